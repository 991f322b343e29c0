package io.wharf.wrapper;

import java.util.Map;

/** A custom metric a component reports with a response (COUNTER adds, GAUGE sets, TIMER observes ms). */
public record Metric(String key, Type type, double value, Map<String, String> tags) {
    public enum Type { COUNTER, GAUGE, TIMER }

    public static Metric counter(String key, double value) {
        return new Metric(key, Type.COUNTER, value, Map.of());
    }

    public static Metric gauge(String key, double value) {
        return new Metric(key, Type.GAUGE, value, Map.of());
    }

    /** {@code millis} is in milliseconds, as upstream's TIMER is; Prometheus gets seconds. */
    public static Metric timer(String key, double millis) {
        return new Metric(key, Type.TIMER, millis, Map.of());
    }

    public Metric withTags(Map<String, String> newTags) {
        return new Metric(key, type, value, Map.copyOf(newTags));
    }
}
