package io.seldon.wrapper;

import io.seldon.wrapper.api.SeldonPredictionService;
import io.wharf.wrapper.Main;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.context.SmartLifecycle;
import org.springframework.core.env.Environment;
import org.springframework.stereotype.Component;

/**
 * Serves the app's one {@link SeldonPredictionService} bean with Wharf's REST, gRPC and metrics
 * servers once the Spring context is up, and stops them when it closes. It sits in
 * {@code io.seldon.wrapper}, the package upstream's model apps scan, so it is found where upstream's
 * controllers were found.
 *
 * <p>Ports follow the Seldon env contract ({@code PREDICTIVE_UNIT_HTTP_SERVICE_PORT},
 * {@code PREDICTIVE_UNIT_SERVICE_PORT}, {@code PREDICTIVE_UNIT_GRPC_SERVICE_PORT}, ...); upstream's Spring
 * properties {@code server.port} and {@code grpc.port}, when given, win, as they did upstream.
 */
@Component
public class SeldonServing implements SmartLifecycle {
    private final ObjectProvider<SeldonPredictionService> handlers;
    private final Environment springEnv;
    private volatile Main.Running running;
    private final CountDownLatch stopped = new CountDownLatch(1);

    public SeldonServing(ObjectProvider<SeldonPredictionService> handlers, Environment springEnv) {
        this.handlers = handlers;
        this.springEnv = springEnv;
    }

    @Override
    public void start() {
        List<SeldonPredictionService> found = handlers.orderedStream().toList();
        if (found.size() != 1) {
            throw new IllegalStateException(found.isEmpty()
                    ? "no bean implements io.seldon.wrapper.api.SeldonPredictionService: annotate the handler class "
                      + "with @Component in a package the app scans (scanBasePackages)"
                    : "several beans implement io.seldon.wrapper.api.SeldonPredictionService ("
                      + String.join(", ", found.stream().map(h -> h.getClass().getName()).toList())
                      + "): keep one per component image");
        }
        try {
            running = Main.start(new PredictionServiceComponent(found.get(0)), env());
        } catch (Exception exc) {
            throw new IllegalStateException("cannot start the Wharf servers: " + exc.getMessage(), exc);
        }
        // Wharf's server threads are daemons: hold the JVM open until the context closes.
        Thread keeper = new Thread(() -> {
            try {
                stopped.await();
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
        }, "wharf-seldon-serving");
        keeper.setDaemon(false);
        keeper.start();
    }

    private Map<String, String> env() {
        Map<String, String> env = new HashMap<>(System.getenv());
        // Spring's environment holds the process env plus --KEY=value arguments and properties files.
        for (String key : List.of("PREDICTIVE_UNIT_HTTP_SERVICE_PORT", "PREDICTIVE_UNIT_GRPC_SERVICE_PORT",
                "PREDICTIVE_UNIT_METRICS_SERVICE_PORT", "PREDICTIVE_UNIT_METRICS_ENDPOINT", "WHARF_HOST")) {
            String value = springEnv.getProperty(key);
            if (value != null) {
                env.put(key, value);
            }
        }
        String httpPort = springEnv.getProperty("server.port");
        String grpcPort = springEnv.getProperty("grpc.port");
        if (httpPort != null) {
            env.put("PREDICTIVE_UNIT_HTTP_SERVICE_PORT", httpPort);
        }
        if (grpcPort != null) {
            env.put("PREDICTIVE_UNIT_GRPC_SERVICE_PORT", grpcPort);
        }
        String host = springEnv.getProperty("server.address");
        if (host != null) {
            env.put("WHARF_HOST", host);
        }
        return env;
    }

    @Override
    public void stop() {
        Main.Running r = running;
        if (r != null) {
            r.stop();
        }
        running = null;
        stopped.countDown();
    }

    @Override
    public boolean isRunning() {
        return running != null;
    }

    public int httpPort() {
        Main.Running r = running;
        return r == null ? -1 : r.httpPort();
    }
}
