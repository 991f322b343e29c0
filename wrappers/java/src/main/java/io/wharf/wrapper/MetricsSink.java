package io.wharf.wrapper;

import java.util.List;

/** Where custom metrics, feedback rewards and request timings go (Prometheus in the server). */
public interface MetricsSink {
    MetricsSink NONE = new MetricsSink() {};

    default void record(String method, List<Metric> metrics) {}

    default void feedback(float reward) {}

    default void observeRequest(String method, int code, double seconds) {}
}
