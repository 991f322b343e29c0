package io.wharf.wrapper;

import java.util.List;
import java.util.Map;

/** A result plus tags and metrics for this one request (the Python wrapper's SeldonResponse). */
public record Response(Object data, Map<String, Object> tags, List<Metric> metrics) {
    public static Response of(Object data) {
        return new Response(data, Map.of(), List.of());
    }
}
