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
 *
 * <p>A request body is capped ({@code WHARF_MAX_BODY_BYTES}, 32 MiB by default, as the Python server):
 * a larger one is answered 413 and the connection closed, without reading it into memory.
 */
public final class RestServer {
    static {
        noDelay();
    }

    private static final Logger LOG = Logger.getLogger(RestServer.class.getName());
    private static final Set<String> GET_POST = Set.of("GET", "POST");
    private static final Set<String> POST = Set.of("POST");
    private static final Set<String> GET = Set.of("GET");
    /** The Python server's default: eight times the 4 MiB gRPC limit, since JSON is bigger than protobuf. */
    public static final long DEFAULT_MAX_BODY_BYTES = 32L * 1024 * 1024;
    public static final String MAX_BODY_ENV = "WHARF_MAX_BODY_BYTES";

    @FunctionalInterface
    interface Handler {
        JsonNode handle(JsonNode message) throws Exception;
    }

    private record Route(String label, Set<String> methods, Handler handler, boolean needsBody) {}

    private final Component component;
    private final MetricsSink sink;
    private final Map<String, Route> routes = new HashMap<>();
    private final byte[] openapi;
    private final long maxBodyBytes;
    private HttpServer server;
    private ExecutorService pool;

    public RestServer(Component component, MetricsSink sink) {
        this(component, sink, maxBodyFromEnv(System.getenv(MAX_BODY_ENV)));
    }

    public RestServer(Component component, MetricsSink sink, long maxBodyBytes) {
        this.maxBodyBytes = maxBodyBytes;
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

    /** The cap from {@code WHARF_MAX_BODY_BYTES}; unset or empty is the default, anything else a positive whole number. */
    static long maxBodyFromEnv(String raw) {
        if (raw == null || raw.isBlank()) {
            return DEFAULT_MAX_BODY_BYTES;
        }
        try {
            long value = Long.parseLong(raw.strip());
            if (value > 0) {
                return value;
            }
        } catch (NumberFormatException exc) {
            // reported below
        }
        throw new IllegalArgumentException(MAX_BODY_ENV + "='" + raw + "': expected a whole number above 0");
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
            byte[] body = readBody(ex);
            if (body == null) {
                return; // refused: 413 sent
            }
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
                unserved(ex, method, path, String.join(", ", new java.util.TreeSet<>(route.methods())));
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

    /**
     * The request body, or null after answering 413 when it is over the cap: a declared length is refused
     * before reading, a chunked body once the cap is passed. The connection closes, so what the client
     * still sends is never read.
     */
    private byte[] readBody(HttpExchange ex) throws IOException {
        String declared = ex.getRequestHeaders().getFirst("Content-Length");
        String what;
        if (declared != null && declared.strip().matches("[0-9]{1,18}") && Long.parseLong(declared.strip()) > maxBodyBytes) {
            what = "Content-Length " + Long.parseLong(declared.strip());
        } else {
            // one byte over the cap tells a body at the cap from a longer one
            byte[] body = ex.getRequestBody().readNBytes((int) Math.min(maxBodyBytes + 1, Integer.MAX_VALUE - 8));
            if (body.length <= maxBodyBytes) {
                return body;
            }
            what = "the body";
        }
        ex.getResponseHeaders().add("Connection", "close");
        send(ex, 413, Json.write(MicroserviceException.errorBody(what + " exceeds the limit of " + maxBodyBytes + " bytes",
                MicroserviceException.BAD_DATA)), "application/json");
        return null;
    }

    /**
     * A path or method not served, answered as upstream's Flask app does: 500
     * MICROSERVICE_INTERNAL_ERROR with Werkzeug's 404/405 text (a GET is a 404 even on a POST-only
     * path, because upstream's static-file route takes every GET).
     */
    private void unserved(HttpExchange ex, String method, String path, String allowed) throws IOException {
        boolean get = method.equals("GET") || method.equals("HEAD");
        String info;
        if (get) {
            info = MicroserviceException.NOT_FOUND_TEXT + ": " + (allowed == null ? "no endpoint " + method + " " + path
                    : path + " takes " + allowed);
        } else {
            info = MicroserviceException.METHOD_NOT_ALLOWED_TEXT + ": " + (allowed == null ? "no endpoint " + path
                    : method + " not allowed on " + path + ", which takes " + allowed);
        }
        send(ex, 500, Json.write(MicroserviceException.errorBody(info, MicroserviceException.INTERNAL_ERROR)),
                "application/json");
    }

    private void plain(HttpExchange ex, String path) throws IOException {
        String method = ex.getRequestMethod();
        boolean known = switch (path) {
            case "/health/ping", "/live", "/ready", "/seldon.json" -> true;
            default -> false;
        };
        if (method.equals("OPTIONS")) {
            send(ex, 200, new byte[0], null);
            return;
        }
        if (known && !(method.equals("GET") || method.equals("HEAD"))) {
            unserved(ex, method, path, "GET");
            return;
        }
        switch (path) {
            case "/health/ping" -> send(ex, 200, "pong".getBytes(StandardCharsets.UTF_8), "text/plain; charset=utf-8");
            case "/live" -> send(ex, 200, "alive".getBytes(StandardCharsets.UTF_8), "text/plain; charset=utf-8");
            case "/ready" -> send(ex, 200, "ready".getBytes(StandardCharsets.UTF_8), "text/plain; charset=utf-8");
            case "/seldon.json" -> send(ex, 200, openapi, "application/json");
            default -> unserved(ex, method, path, null);
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
