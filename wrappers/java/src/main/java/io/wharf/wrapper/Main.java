package io.wharf.wrapper;

import com.sun.net.httpserver.HttpServer;
import java.lang.reflect.Constructor;
import java.net.InetSocketAddress;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.logging.Logger;

/**
 * {@code java -jar app.jar [ClassName] [--http-port N] [--grpc-port N] [--metrics-port N]}: load the
 * component class (argument, else MODEL_NAME), then serve REST, gRPC and Prometheus until SIGTERM.
 * Ports default to the PREDICTIVE_UNIT_*_SERVICE_PORT variables, as the Python server's do.
 */
public final class Main {
    private static final Logger LOG = Logger.getLogger(Main.class.getName());

    private Main() {}

    public static void main(String[] args) throws Exception {
        Map<String, String> env = new HashMap<>(System.getenv());
        String className = env.get("MODEL_NAME");
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--http-port" -> env.put("PREDICTIVE_UNIT_HTTP_SERVICE_PORT", args[++i]);
                case "--grpc-port" -> env.put("PREDICTIVE_UNIT_GRPC_SERVICE_PORT", args[++i]);
                case "--metrics-port" -> env.put("PREDICTIVE_UNIT_METRICS_SERVICE_PORT", args[++i]);
                case "--host" -> env.put("WHARF_HOST", args[++i]);
                default -> {
                    if (args[i].startsWith("--")) {
                        System.err.println("unknown option " + args[i]);
                        System.exit(2);
                    }
                    className = args[i];
                }
            }
        }
        if (className == null || className.isBlank()) {
            System.err.println("no component class: give it as the first argument or in MODEL_NAME");
            System.exit(2);
        }
        SeldonComponent user;
        try {
            user = instantiate(className, Parameters.parse(env.get("PREDICTIVE_UNIT_PARAMETERS")));
        } catch (ReflectiveOperationException | ClassCastException | MicroserviceException exc) {
            System.err.println("cannot load component class " + className + ": " + exc);
            System.exit(1);
            return;
        }
        serve(user, env);
    }

    /** The class named {@code name}, built with a {@code Map<String,Object>} of parameters or with no arguments. */
    public static SeldonComponent instantiate(String name, Map<String, Object> params) throws ReflectiveOperationException {
        Class<?> cls = Class.forName(name);
        if (!SeldonComponent.class.isAssignableFrom(cls)) {
            throw new ClassCastException(name + " does not implement " + SeldonComponent.class.getName());
        }
        try {
            Constructor<?> withParams = cls.getConstructor(Map.class);
            return (SeldonComponent) withParams.newInstance(params);
        } catch (NoSuchMethodException exc) {
            if (!params.isEmpty()) {
                LOG.warning(name + " has no Map constructor: parameters " + params.keySet() + " are ignored");
            }
            return (SeldonComponent) cls.getConstructor().newInstance();
        }
    }

    static int port(Map<String, String> env, String key, int fallback) {
        String v = env.get(key);
        return v == null || v.isBlank() ? fallback : Integer.parseInt(v.trim());
    }

    public static void serve(SeldonComponent user, Map<String, String> env) throws Exception {
        Running running = start(user, env);
        Runtime.getRuntime().addShutdownHook(new Thread(running::stop));
        running.await();
    }

    /** The servers of one component, started; {@link #stop()} drains them (REST, metrics, then gRPC). */
    public static final class Running {
        private final RestServer rest;
        private final HttpServer metrics;
        private final GrpcServer grpc;
        private final CountDownLatch done = new CountDownLatch(1);

        Running(RestServer rest, HttpServer metrics, GrpcServer grpc) {
            this.rest = rest;
            this.metrics = metrics;
            this.grpc = grpc;
        }

        public int httpPort() {
            return rest.port();
        }

        public void await() throws InterruptedException {
            done.await();
        }

        public synchronized void stop() {
            if (done.getCount() == 0) {
                return;
            }
            rest.stop(1);
            metrics.stop(0);
            try {
                if (grpc != null) {
                    grpc.stop(5);
                }
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
            done.countDown();
        }
    }

    /**
     * Start REST, gRPC and metrics for {@code user} and return at once: an embedding host (the Seldon
     * compatibility layer's Spring context) owns the lifecycle and calls {@link Running#stop()}.
     */
    public static Running start(SeldonComponent user, Map<String, String> env) throws Exception {
        RestServer.noDelay();
        String host = env.getOrDefault("WHARF_HOST", "0.0.0.0");
        int threads = port(env, "WHARF_THREADS", Math.max(4, 2 * Runtime.getRuntime().availableProcessors()));
        int httpPort = port(env, "PREDICTIVE_UNIT_HTTP_SERVICE_PORT", port(env, "PREDICTIVE_UNIT_SERVICE_PORT", 9000));
        int grpcPort = port(env, "PREDICTIVE_UNIT_GRPC_SERVICE_PORT", 5000);
        int metricsPort = port(env, "PREDICTIVE_UNIT_METRICS_SERVICE_PORT", 6000);
        String metricsPath = env.getOrDefault("PREDICTIVE_UNIT_METRICS_ENDPOINT", "/metrics");
        boolean grpcEnabled = port(env, "GRPC_WORKERS", 1) > 0;
        int maxMessage = port(env, "WHARF_GRPC_MAX_MESSAGE_BYTES", Integer.MAX_VALUE);

        PrometheusSink sink = new PrometheusSink(env);
        Component component = new Component(user, UnitInfo.fromEnv(env), sink);
        user.load();

        // REST starts last: once /ready answers, gRPC and metrics are up too (probes rely on it).
        GrpcServer grpc = null;
        if (grpcEnabled) {
            grpc = new GrpcServer(component, sink);
            grpc.start(host, grpcPort, threads, maxMessage);
        }
        HttpServer metrics = HttpServer.create(new InetSocketAddress(host, metricsPort), 64);
        metrics.createContext(metricsPath, ex -> {
            try (ex) {
                byte[] body = sink.scrape();
                ex.getResponseHeaders().add("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
                ex.sendResponseHeaders(200, body.length);
                ex.getResponseBody().write(body);
            }
        });
        metrics.start();
        RestServer rest = new RestServer(component, sink);
        rest.start(host, httpPort, threads);
        LOG.info("serving " + user.getClass().getName() + " on http " + rest.port() + ", grpc "
                + (grpc == null ? "off" : grpc.port()) + ", metrics " + metricsPort + metricsPath);

        return new Running(rest, metrics, grpc);
    }
}
