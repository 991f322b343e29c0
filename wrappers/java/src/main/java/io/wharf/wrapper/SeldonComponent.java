package io.wharf.wrapper;

import java.util.List;
import java.util.Map;

/**
 * What a Java model class implements; every method is optional.
 *
 * <p>Return values follow the Python wrapper's rules: a {@code double[][]}, {@code double[]},
 * {@link NdArray} or {@link java.util.List} becomes a {@code data} block that mirrors the request
 * (tensor in, tensor out; ndarray in, ndarray out); a {@code String} becomes {@code strData}; a
 * {@code byte[]} {@code binData}; a {@code Map} or JSON object {@code jsonData}. A
 * {@code SeldonMessage} proto is sent back as it is. Wrap any of them in {@link Response} to add tags
 * and metrics for one request. Throw {@link MicroserviceException} to answer with a chosen status.
 *
 * <p>Methods may be called from several threads at once: keep them thread-safe.
 */
public interface SeldonComponent {

    /** Called once before the server takes requests (load weights here, not in the constructor). */
    default void load() throws Exception {}

    /** Without an implementation the answer is an empty array. */
    default Object predict(Payload request) throws Exception {
        return new double[0];
    }

    /** Without an implementation the input is returned unchanged. */
    default Object transformInput(Payload request) throws Exception {
        return request.value();
    }

    /** Without an implementation the input is returned unchanged. */
    default Object transformOutput(Payload request) throws Exception {
        return request.value();
    }

    /** The child index to send the request to (-1 all, -2 none). */
    default int route(Payload request) throws Exception {
        throw new MicroserviceException.NotImplemented("Route not defined");
    }

    /** Combine the children's outputs. */
    default Object aggregate(List<Payload> requests) throws Exception {
        throw new MicroserviceException.NotImplemented("Aggregate not defined");
    }

    /**
     * Feedback on an earlier prediction. {@code routing} is this unit's routing decision recorded in the
     * response (null when there is none). Returning null answers with an empty array.
     */
    default Object sendFeedback(Payload request, float reward, Payload truth, Integer routing) throws Exception {
        return null;
    }

    default Object healthStatus() throws Exception {
        return "healthy";
    }

    /** Model metadata merged over the defaults (name, versions, platform, inputs, outputs, custom). */
    default Map<String, Object> metadata() throws Exception {
        return Map.of();
    }

    /** Names for the columns of 2-D outputs; null gives {@code t:0, t:1, ...}. */
    default List<String> classNames() {
        return null;
    }

    /** Tags added to every response's {@code meta.tags}. */
    default Map<String, Object> tags() {
        return Map.of();
    }

    /** Metrics recorded after every call (and echoed in {@code meta.metrics}). */
    default List<Metric> metrics() {
        return List.of();
    }
}
