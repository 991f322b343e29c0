package io.wharf.wrapper;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

/**
 * Prometheus metrics of one component with the official Java client: request timings, the user's custom
 * metrics (COUNTER, GAUGE, TIMER in ms -> histogram in s) and feedback rewards, each series labelled with
 * the unit's identity as the Python server labels them.
 */
public final class PrometheusSink implements MetricsSink {
    private static final Pattern LABEL_BAD = Pattern.compile("[^a-zA-Z0-9_]");
    static final double[] TIMER_BUCKETS = timerBuckets();

    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final Map<String, String> base;
    private final String[] baseNames;
    private final Histogram requests;
    private final Counter feedback;
    private final Counter reward;
    private final Map<String, Object> families = new ConcurrentHashMap<>();

    public PrometheusSink(Map<String, String> env) {
        String deployment = env.getOrDefault("SELDON_DEPLOYMENT_ID", "NOT_IMPLEMENTED");
        String image = env.getOrDefault("PREDICTIVE_UNIT_IMAGE", "NOT_IMPLEMENTED:NOT_IMPLEMENTED");
        String[] nameTag = Metadata.splitImage(image);
        base = new LinkedHashMap<>();
        base.put("deployment_name", deployment);
        base.put("model_name", env.getOrDefault("PREDICTIVE_UNIT_ID", "NOT_IMPLEMENTED"));
        base.put("model_image", nameTag[0]);
        base.put("model_version", nameTag[1].isEmpty() ? "NOT_IMPLEMENTED" : nameTag[1]);
        base.put("predictor_name", env.getOrDefault("PREDICTOR_ID", "NOT_IMPLEMENTED"));
        base.put("predictor_version", predictorVersion(env.get("PREDICTOR_LABELS")));
        base.put("seldon_deployment_name", deployment);
        base.put("image_name", base.get("model_image"));
        base.put("image_version", base.get("model_version"));
        base.put("worker_id", Long.toString(ProcessHandle.current().pid()));
        baseNames = names(List.of("method"), base.keySet());
        requests = Histogram.builder().name("wharf_component_request_seconds")
                .help("Time spent answering requests, by endpoint method and status")
                .labelNames(names(List.of("method"), base.keySet(), List.of("code"))).register(registry);
        feedback = Counter.builder().name("seldon_api_model_feedback").help("Feedback requests with a reward")
                .labelNames(baseNames).register(registry);
        reward = Counter.builder().name("seldon_api_model_feedback_reward").help("Sum of feedback rewards")
                .labelNames(baseNames).register(registry);
    }

    private static String predictorVersion(String labels) {
        if (labels == null || labels.isBlank()) {
            return "NOT_IMPLEMENTED";
        }
        try {
            return Json.MAPPER.readTree(labels).path("version").asText("NOT_IMPLEMENTED");
        } catch (IOException exc) {
            return "NOT_IMPLEMENTED";
        }
    }

    @SafeVarargs
    private static String[] names(java.util.Collection<String>... parts) {
        List<String> out = new ArrayList<>();
        for (var p : parts) {
            out.addAll(p);
        }
        return out.toArray(String[]::new);
    }

    private String[] values(String method, Map<String, String> tags, String... extra) {
        List<String> out = new ArrayList<>(tags.values());
        out.add(method);
        out.addAll(base.values());
        out.addAll(List.of(extra));
        return out.toArray(String[]::new);
    }

    @Override
    public void observeRequest(String method, int code, double seconds) {
        requests.labelValues(values(method, Map.of(), Integer.toString(code))).observe(seconds);
    }

    @Override
    public void feedback(float value) {
        feedback.labelValues(values("feedback", Map.of())).inc();
        if (value > 0) {
            reward.labelValues(values("feedback", Map.of())).inc(value);
        }
    }

    @Override
    public void record(String method, List<Metric> metrics) {
        for (Metric m : metrics) {
            Map<String, String> tags = new TreeMap<>();
            if (m.tags() != null) {
                m.tags().forEach((k, v) -> tags.put(labelName(k), v));
            }
            String key = m.type() + "|" + m.key() + "|" + String.join(",", tags.keySet());
            Object family;
            try {
                family = families.computeIfAbsent(key, k -> create(m, tags));
            } catch (IllegalArgumentException | IllegalStateException exc) {
                throw new MicroserviceException("metric " + m.key() + ": " + exc.getMessage(), 500,
                        MicroserviceException.BAD_METRIC);
            }
            String[] labelValues = values(method, tags);
            switch (m.type()) {
                case COUNTER -> ((Counter) family).labelValues(labelValues).inc(m.value());
                case GAUGE -> ((Gauge) family).labelValues(labelValues).set(m.value());
                case TIMER -> ((Histogram) family).labelValues(labelValues).observe(m.value() / 1000.0);
            }
        }
    }

    private Object create(Metric m, Map<String, String> tags) {
        String[] labelNames = names(tags.keySet(), List.of("method"), base.keySet());
        String name = labelName(m.key());
        return switch (m.type()) {
            case COUNTER -> Counter.builder().name(name).help("custom counter " + m.key()).labelNames(labelNames).register(registry);
            case GAUGE -> Gauge.builder().name(name).help("custom gauge " + m.key()).labelNames(labelNames).register(registry);
            case TIMER -> Histogram.builder().name(name).help("custom timer " + m.key()).labelNames(labelNames)
                    .classicUpperBounds(TIMER_BUCKETS).register(registry);
        };
    }

    static String labelName(String tag) {
        String name = LABEL_BAD.matcher(tag).replaceAll("_");
        return !name.isEmpty() && !Character.isDigit(name.charAt(0)) ? name : "_" + name;
    }

    /** 50 log-spaced bounds from 1 ms to 30 s, as upstream's TIMER histogram has. */
    private static double[] timerBuckets() {
        double[] b = new double[50];
        double lo = Math.log10(0.001);
        double hi = Math.log10(30);
        for (int i = 0; i < 50; i++) {
            b[i] = Math.pow(10, lo + (hi - lo) * i / 49);
        }
        return b;
    }

    /** The text exposition format (version 0.0.4). */
    public byte[] scrape() throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        new PrometheusTextFormatWriter(false).write(out, registry.scrape());
        return out.toByteArray();
    }
}
