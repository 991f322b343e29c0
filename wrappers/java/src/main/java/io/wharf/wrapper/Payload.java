package io.wharf.wrapper;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;

/**
 * One decoded request message: what a user method works on.
 *
 * <p>{@link #kind()} is {@code tensor}, {@code ndarray}, {@code tftensor}, {@code data} (a data block
 * with no array), {@code strData}, {@code binData}, {@code jsonData}, or {@code none}. Exactly one of
 * {@link #array()}, {@link #string()}, {@link #bytes()}, {@link #json()} is set, by kind.
 */
public record Payload(String kind, NdArray array, String string, byte[] bytes, JsonNode json, List<String> names,
                      ObjectNode meta, JsonNode message) {

    public boolean hasData() {
        return kind.equals("tensor") || kind.equals("ndarray") || kind.equals("tftensor") || kind.equals("data");
    }

    /** The value as the Python wrapper would pass it: the array, the string, the bytes or the JSON. */
    public Object value() {
        if (array != null) {
            return array;
        }
        if (string != null) {
            return string;
        }
        if (bytes != null) {
            return bytes;
        }
        return json;
    }

    /** {@code data} as {@code double[rows][cols]} (a 1-D array is one row). */
    public double[][] toMatrix() {
        return requireArray().toMatrix();
    }

    /** {@code data} as a flat {@code double[]} in row-major order (tensor values). */
    public double[] toVector() {
        return requireArray().values();
    }

    public int[] shape() {
        return requireArray().shape();
    }

    private NdArray requireArray() {
        if (array == null) {
            throw new MicroserviceException("expected a data payload (tensor or ndarray), got " + kind);
        }
        return array;
    }
}
