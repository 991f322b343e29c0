package io.wharf.wrapper;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/**
 * {@code data.tftensor}: a TensorFlow TensorProto in proto-JSON. Numeric dtypes are decoded from their
 * repeated value field or {@code tensorContent}; results are written as the Python server writes them:
 * DT_DOUBLE (any float) or DT_INT64 in little-endian {@code tensorContent}.
 */
final class TfTensors {
    private static final JsonNodeFactory F = Json.NODES;

    private TfTensors() {}

    static NdArray decode(JsonNode obj, String where) {
        if (!obj.isObject()) {
            throw new MicroserviceException(where + ": expected a TensorProto object");
        }
        String dtype = obj.path("dtype").asText("DT_INVALID");
        List<Integer> dims = new ArrayList<>();
        for (JsonNode d : obj.path("tensorShape").path("dim")) {
            dims.add(d.path("size").asInt());
        }
        int[] shape = dims.stream().mapToInt(Integer::intValue).toArray();
        long size = 1;
        for (int d : shape) {
            size *= d;
        }
        ArrayNode flat = F.arrayNode();
        String content = obj.path("tensorContent").asText("");
        boolean floating = dtype.equals("DT_FLOAT") || dtype.equals("DT_DOUBLE");
        if (!content.isEmpty()) {
            ByteBuffer buf = ByteBuffer.wrap(Base64.getDecoder().decode(content)).order(ByteOrder.LITTLE_ENDIAN);
            switch (dtype) {
                case "DT_FLOAT" -> { while (buf.remaining() >= 4) flat.add((double) buf.getFloat()); }
                case "DT_DOUBLE" -> { while (buf.remaining() >= 8) flat.add(buf.getDouble()); }
                case "DT_INT32" -> { while (buf.remaining() >= 4) flat.add(buf.getInt()); }
                case "DT_INT64" -> { while (buf.remaining() >= 8) flat.add(buf.getLong()); }
                default -> throw new MicroserviceException(where + ".dtype: unsupported " + dtype + " with tensorContent");
            }
        } else {
            String field = switch (dtype) {
                case "DT_FLOAT" -> "floatVal";
                case "DT_DOUBLE" -> "doubleVal";
                case "DT_INT32", "DT_INT16", "DT_INT8", "DT_UINT8", "DT_UINT16" -> "intVal";
                case "DT_INT64" -> "int64Val";
                default -> throw new MicroserviceException(where + ".dtype: unsupported " + dtype);
            };
            for (JsonNode v : obj.path(field)) {
                if (floating) {
                    flat.add(v.asDouble());
                } else {
                    flat.add(v.asLong());
                }
            }
            // TensorFlow's short form: one value fills the whole tensor.
            if (flat.size() == 1 && size > 1) {
                JsonNode only = flat.get(0);
                for (long i = 1; i < size; i++) {
                    flat.add(only);
                }
            }
            if (flat.isEmpty() && size > 0) {
                for (long i = 0; i < size; i++) {
                    flat.add(floating ? F.numberNode(0.0) : F.numberNode(0L));
                }
            }
        }
        return NdArray.reshape(flat, shape, where).withDtype(dtype);
    }

    static ObjectNode encode(NdArray arr) {
        ArrayNode flat = arr.flatJson();
        boolean floating = false;
        for (JsonNode v : flat) {
            floating |= v.isFloatingPointNumber();
        }
        // The request's dtype when the array still is what a tftensor brought, else what numpy would pick.
        String dtype = arr.dtype() != null && (arr.dtype().equals("DT_FLOAT") || arr.dtype().equals("DT_DOUBLE")
                || (!floating && (arr.dtype().equals("DT_INT32") || arr.dtype().equals("DT_INT64"))))
                ? arr.dtype() : floating ? "DT_DOUBLE" : "DT_INT64";
        int width = dtype.equals("DT_FLOAT") || dtype.equals("DT_INT32") ? 4 : 8;
        ByteBuffer buf = ByteBuffer.allocate(flat.size() * width).order(ByteOrder.LITTLE_ENDIAN);
        for (JsonNode v : flat) {
            switch (dtype) {
                case "DT_FLOAT" -> buf.putFloat((float) v.asDouble());
                case "DT_DOUBLE" -> buf.putDouble(v.asDouble());
                case "DT_INT32" -> buf.putInt(v.asInt());
                default -> buf.putLong(v.asLong());
            }
        }
        ObjectNode out = F.objectNode();
        out.put("dtype", dtype);
        ArrayNode dims = out.putObject("tensorShape").putArray("dim");
        for (int d : arr.shape()) {
            dims.addObject().put("size", Integer.toString(d));
        }
        if (flat.size() > 0) {
            out.put("tensorContent", Base64.getEncoder().encodeToString(buf.array()));
        }
        return out;
    }
}
