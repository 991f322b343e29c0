package io.wharf.wrapper;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The component's REST API on the JDK's own HTTP server ({@code com.sun.net.httpserver}): no framework,
 * no extra jar, a fixed thread pool; routing is one map lookup. Endpoints, bodies and errors are those of
 * the Python component server.
 */
public final class RestServer {
    static {
        noDelay();
    }

    private static final Logger LOG = Logger.getLogger(RestServer.class.getName());
    private static final Set<String> GET_POST = Set.of("GET", "POST");
    private static final Set<String> POST = Set.of("POST");
    private static final Set<String> GET = Set.of("GET");

    @FunctionalInterface
    interface Handler {
        JsonNode handle(JsonNode message) throws Exception;
    }

    private record Route(String label, Set<String> methods, Handler handler, boolean needsBody) {}

    private final Component component;
    private final MetricsSink sink;
    private final Map<String, Route> routes = new HashMap<>();
    private final byte[] openapi;
    private HttpServer server;
    private ExecutorService pool;

    public RestServer(Component component, MetricsSink sink) {
        this.component = component;
        this.sink = sink;
        Component c = component;
        add(new Route("predict", GET_POST, c::predict, true), "/predict");
        add(new Route("predict", POST, c::predict, true), "/api/v1.0/predictions", "/api/v0.1/predictions");
        add(new Route("feedback", GET_POST, c::sendFeedback, true), "/send-feedback");
        add(new Route("feedback", POST, c::sendFeedback, true), "/api/v1.0/feedback", "/api/v0.1/feedback");
        add(new Route("inputtransform", GET_POST, c::transformInput, true), "/transform-input");
        add(new Route("outputtransform", GET_POST, c::transformOutput, true), "/transform-output");
        add(new Route("router", GET_POST, c::route, true), "/route");
        add(new Route("aggregate", GET_POST, c::aggregate, true), "/aggregate");
        add(new Route("health", GET, m -> c.healthStatus(), false), "/health/status", "/api/v1.0/health/status");
        add(new Route("metadata", GET, m -> c.requireMetadata(), false), "/metadata", "/api/v1.0/metadata");
        byte[] spec;
        try (InputStream in = RestServer.class.getResourceAsStream("/openapi/seldon.json")) {
            spec = in == null ? "{}".getBytes(StandardCharsets.UTF_8) : in.readAllBytes();
        } catch (IOException exc) {
            spec = "{}".getBytes(StandardCharsets.UTF_8);
        }
        openapi = spec;
    }

    private void add(Route route, String... paths) {
        for (String p : paths) {
            routes.put(p, route);
        }
    }

    /**
     * The JDK server writes headers and body separately; without TCP_NODELAY, Nagle's algorithm and the
     * client's delayed ACK add ~40 ms to every keep-alive request. The JDK reads the property once, when
     * its first HttpServer is made, so this must run before any (Main calls it first thing).
     */
    public static void noDelay() {
        if (System.getProperty("sun.net.httpserver.nodelay") == null) {
            System.setProperty("sun.net.httpserver.nodelay", "true");
        }
    }

    public void start(String host, int port, int threads) throws IOException {
        server = HttpServer.create(new InetSocketAddress(host, port), 1024);
        pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "wharf-http");
            t.setDaemon(true);
            return t;
        });
        server.setExecutor(pool);
        server.createContext("/", this::serve);
        server.start();
    }

    public int port() {
        return server.getAddress().getPort();
    }

    public void stop(int graceSeconds) {
        if (server != null) {
            server.stop(graceSeconds);
            pool.shutdown();
        }
    }

    private void serve(HttpExchange ex) throws IOException {
        try (ex) {
            String path = ex.getRequestURI().getPath();
            String method = ex.getRequestMethod();
            byte[] body = ex.getRequestBody().readAllBytes();
            Route route = routes.get(path);
            if (route == null) {
                plain(ex, path);
                return;
            }
            if (method.equals("OPTIONS")) {
                ex.getResponseHeaders().add("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
                ex.getResponseHeaders().add("Access-Control-Allow-Headers", "*");
                send(ex, 200, new byte[0], null);
                return;
            }
            if (!route.methods().contains(method)) {
                send(ex, 405, Json.write(MicroserviceException.errorBody(method + " not allowed on " + path,
                        MicroserviceException.BAD_DATA)), "application/json");
                return;
            }
            long started = System.nanoTime();
            int status = 200;
            byte[] payload;
            try {
                JsonNode message = route.needsBody()
                        ? RequestBody.extract(ex.getRequestHeaders().getFirst("Content-Type"), ex.getRequestURI().getRawQuery(), body)
                        : null;
                JsonNode result = route.handler().handle(message);
                payload = Json.write(result);
                if (route.label().equals("predict")) {
                    status = statusFromBody(result, status);
                }
            } catch (Throwable exc) {
                MicroserviceException err = MicroserviceException.of(exc);
                if (err.statusCode() >= 500) {
                    LOG.log(Level.SEVERE, method + " " + path + " failed: " + exc, exc instanceof MicroserviceException ? null : exc);
                }
                status = err.statusCode();
                payload = Json.write(err.toJson());
            }
            send(ex, status, payload, "application/json");
            sink.observeRequest(route.label(), status, (System.nanoTime() - started) / 1e9);
        }
    }

    private void plain(HttpExchange ex, String path) throws IOException {
        switch (path) {
            case "/health/ping" -> send(ex, 200, "pong".getBytes(StandardCharsets.UTF_8), "text/plain; charset=utf-8");
            case "/live" -> send(ex, 200, "alive".getBytes(StandardCharsets.UTF_8), "text/plain; charset=utf-8");
            case "/ready" -> send(ex, 200, "ready".getBytes(StandardCharsets.UTF_8), "text/plain; charset=utf-8");
            case "/seldon.json" -> send(ex, 200, openapi, "application/json");
            default -> send(ex, 404, Json.write(MicroserviceException.errorBody("no endpoint " + path,
                    MicroserviceException.BAD_DATA)), "application/json");
        }
    }

    /** A raw SeldonMessage answer may set the HTTP status through {@code status.code}. */
    private static int statusFromBody(JsonNode result, int fallback) {
        JsonNode code = result.path("status").path("code");
        if (code.isInt() && code.asInt() >= 100 && code.asInt() <= 599) {
            return code.asInt();
        }
        return fallback;
    }

    private static void send(HttpExchange ex, int status, byte[] body, String contentType) throws IOException {
        if (contentType != null) {
            ex.getResponseHeaders().add("Content-Type", contentType);
        }
        ex.getResponseHeaders().add("Access-Control-Allow-Origin", "*");
        ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
        if (body.length > 0) {
            try (OutputStream out = ex.getResponseBody()) {
                out.write(body);
            }
        }
    }
}
