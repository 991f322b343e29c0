package io.wharf.wrapper;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.protobuf.Message;
import com.google.protobuf.util.JsonFormat;
import io.seldon.protos.PredictionProtos.Feedback;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * SeldonMessage JSON in and out: decoding a request into a {@link Payload}, and the mirroring rules
 * that decide which payload kind a returned value is sent back as. Pure functions, no I/O.
 */
public final class Messages {
    private static final JsonNodeFactory F = Json.NODES;
    static final String[] DATA_KINDS = {"tensor", "ndarray", "tftensor"}; // upstream's lookup order
    static final String[] TOP_LEVEL_KINDS = {"jsonData", "strData", "binData"};
    static final Payload NO_PAYLOAD = new Payload("none", null, null, null, null, List.of(), null, null);

    private Messages() {}

    public static Payload decode(JsonNode msg, String where) {
        if (msg == null || !msg.isObject()) {
            throw new MicroserviceException(MicroserviceException.INVALID_REQUEST + msg + ": " + where
                    + ": expected a JSON object (SeldonMessage), got " + typeName(msg));
        }
        JsonNode metaNode = msg.get("meta");
        if (metaNode != null && !metaNode.isNull() && !metaNode.isObject()) {
            throw new MicroserviceException(where + ".meta: expected an object");
        }
        ObjectNode meta = metaNode != null && metaNode.isObject() ? (ObjectNode) metaNode : null;
        if (msg.has("data")) {
            JsonNode data = msg.get("data");
            if (!data.isObject()) {
                throw new MicroserviceException(where + ".data: expected an object with one of tensor, ndarray, tftensor");
            }
            List<String> names = new ArrayList<>();
            JsonNode n = data.get("names");
            if (n != null && n.isArray()) {
                n.forEach(x -> names.add(x.asText()));
            }
            if (data.has("tensor")) {
                return new Payload("tensor", decodeTensor(data.get("tensor"), where + ".data.tensor"), null, null, null, names, meta, msg);
            }
            if (data.has("ndarray")) {
                JsonNode nd = data.get("ndarray");
                if (!nd.isArray()) {
                    throw new MicroserviceException(where + ".data.ndarray: expected a JSON list, got " + typeName(nd));
                }
                return new Payload("ndarray", NdArray.of(nd), null, null, null, names, meta, msg);
            }
            if (data.has("tftensor")) {
                return new Payload("tftensor", TfTensors.decode(data.get("tftensor"), where + ".data.tftensor"), null, null, null, names, meta, msg);
            }
            return new Payload("data", NdArray.of(F.arrayNode()), null, null, null, names, meta, msg);
        }
        if (msg.has("jsonData")) {
            return new Payload("jsonData", null, null, null, msg.get("jsonData"), List.of(), meta, msg);
        }
        if (msg.has("strData")) {
            JsonNode s = msg.get("strData");
            if (!s.isTextual()) {
                throw new MicroserviceException(where + ".strData: expected a string, got " + typeName(s));
            }
            return new Payload("strData", null, s.asText(), null, null, List.of(), meta, msg);
        }
        if (msg.has("binData")) {
            JsonNode b = msg.get("binData");
            try {
                return new Payload("binData", null, null, Base64.getDecoder().decode(b.asText()), null, List.of(), meta, msg);
            } catch (IllegalArgumentException exc) {
                throw new MicroserviceException(where + ".binData: not valid base64: " + exc.getMessage());
            }
        }
        List<String> keys = new ArrayList<>();
        msg.fieldNames().forEachRemaining(keys::add);
        keys.sort(null);
        throw new MicroserviceException(MicroserviceException.INVALID_REQUEST + msg + ": " + where
                + " has none of data, jsonData, strData, binData (keys: " + (keys.isEmpty() ? "none" : String.join(", ", keys)) + ")");
    }

    /** A SeldonMessageList; REST {@code /aggregate} also takes a bare list of messages. */
    public static List<Payload> decodeList(JsonNode msg) {
        JsonNode items = msg != null && msg.isObject() ? msg.get("seldonMessages") : msg;
        if (items == null || !items.isArray()) {
            throw new MicroserviceException("request: expected {'seldonMessages': [...]} or a list of SeldonMessages");
        }
        List<Payload> out = new ArrayList<>();
        for (int i = 0; i < items.size(); i++) {
            out.add(decode(items.get(i), "seldonMessages[" + i + "]"));
        }
        return out;
    }

    static NdArray decodeTensor(JsonNode obj, String where) {
        if (!obj.isObject() || !obj.has("values") || !obj.get("values").isArray()) {
            throw new MicroserviceException(where + ": expected an object with 'shape' and 'values'");
        }
        ArrayNode values = (ArrayNode) obj.get("values");
        JsonNode shapeNode = obj.get("shape");
        int[] shape;
        if (shapeNode == null || !shapeNode.isArray()) {
            shape = new int[] {values.size()};
        } else {
            shape = new int[shapeNode.size()];
            for (int i = 0; i < shape.length; i++) {
                shape[i] = shapeNode.get(i).asInt();
            }
        }
        for (JsonNode v : values) {
            if (!v.isNumber()) {
                throw new MicroserviceException(where + ".values: expected numbers, got " + v);
            }
        }
        return NdArray.reshape(values, shape, where);
    }

    // --- responses --------------------------------------------------------------------------------

    /** A user result as an NdArray, or null when it is not an array-like value. */
    static NdArray asArray(Object result) {
        if (result instanceof NdArray a) {
            return a;
        }
        if (result instanceof double[][] m) {
            return NdArray.of(m);
        }
        if (result instanceof double[] v) {
            return NdArray.of(v);
        }
        if (result instanceof float[] || result instanceof int[] || result instanceof long[] || result instanceof int[][]
                || result instanceof long[][] || result instanceof float[][] || result instanceof List<?>
                || result instanceof Object[]) {
            return NdArray.of(Json.MAPPER.valueToTree(result));
        }
        if (result instanceof ArrayNode a) {
            return NdArray.of(a);
        }
        return null;
    }

    /**
     * The response body for a value returned by a user method: {@code dict -> jsonData},
     * {@code bytes -> binData}, {@code str -> strData}, arrays -> a {@code data} block whose kind mirrors
     * the request when numeric, {@code ndarray} when not, and {@code tensor} for numeric results of
     * requests that had no {@code data}.
     */
    public static ObjectNode encode(Object result, Payload request, Function<NdArray, List<String>> namer) {
        ObjectNode out = F.objectNode();
        if (result instanceof JsonNode node && node.isTextual()) {
            result = node.asText(); // a jsonData string comes back as strData, as in Python
        }
        if (result instanceof Map<?, ?> || result instanceof ObjectNode) {
            out.set("jsonData", Json.MAPPER.valueToTree(result));
            return out;
        }
        if (result instanceof byte[] b) {
            out.put("binData", Base64.getEncoder().encodeToString(b));
            return out;
        }
        if (result instanceof String s) {
            out.put("strData", s);
            return out;
        }
        NdArray arr = asArray(result);
        if (arr == null) {
            throw new MicroserviceException("Unknown data type returned as payload (must be list or np array): "
                    + result + " (" + (result == null ? "None" : result.getClass().getSimpleName()) + ")");
        }
        String kind;
        if (!request.hasData()) {
            kind = arr.isNumeric() ? "tensor" : "ndarray";
        } else if (arr.isNumeric() && (request.kind().equals("tensor") || request.kind().equals("tftensor"))) {
            kind = request.kind();
        } else {
            kind = "ndarray";
        }
        ObjectNode data = out.putObject("data");
        ArrayNode names = data.putArray("names");
        namer.apply(arr).forEach(names::add);
        switch (kind) {
            case "tensor" -> {
                ObjectNode t = data.putObject("tensor");
                ArrayNode shape = t.putArray("shape");
                for (int d : arr.shape()) {
                    shape.add(d);
                }
                t.set("values", arr.flatJson());
            }
            case "tftensor" -> data.set("tftensor", TfTensors.encode(arr));
            default -> data.set("ndarray", arr.json());
        }
        return out;
    }

    public static List<String> defaultNames(NdArray arr) {
        List<String> names = new ArrayList<>();
        if (arr.ndim() > 1) {
            int cols = arr.shape()[1];
            for (int i = 0; i < cols; i++) {
                names.add("t:" + i);
            }
        }
        return names;
    }

    /**
     * The response {@code meta}: puid copied, tags merged over the request's (user tags, then runtime
     * tags), metrics appended to the request's, requestPath = this unit under the request's entries.
     * {@code routing} is dropped, as upstream does.
     */
    public static ObjectNode responseMeta(ObjectNode requestMeta, List<Map<String, Object>> tags, ArrayNode metrics,
                                          Map<String, String> requestPath) {
        ObjectNode meta = F.objectNode();
        ObjectNode req = requestMeta != null ? requestMeta : F.objectNode();
        JsonNode puid = req.get("puid");
        if (puid != null && puid.isTextual() && !puid.asText().isEmpty()) {
            meta.set("puid", puid);
        }
        ObjectNode mergedTags = F.objectNode();
        if (req.get("tags") instanceof ObjectNode t) {
            mergedTags.setAll(t);
        }
        for (Map<String, Object> extra : tags) {
            if (extra != null) {
                extra.forEach((k, v) -> mergedTags.set(k, Json.MAPPER.valueToTree(v)));
            }
        }
        if (!mergedTags.isEmpty()) {
            meta.set("tags", mergedTags);
        }
        ArrayNode allMetrics = F.arrayNode();
        if (req.get("metrics") instanceof ArrayNode m) {
            allMetrics.addAll(m);
        }
        allMetrics.addAll(metrics);
        if (!allMetrics.isEmpty()) {
            meta.set("metrics", allMetrics);
        }
        ObjectNode path = F.objectNode();
        if (requestPath != null) {
            requestPath.forEach(path::put);
        }
        if (req.get("requestPath") instanceof ObjectNode rp) {
            path.setAll(rp);
        }
        if (!path.isEmpty()) {
            meta.set("requestPath", path);
        }
        return meta;
    }

    /** A proto message as proto-JSON (what {@code MessageToDict} gives in Python). */
    public static JsonNode protoToJson(Message message) {
        try {
            return Json.MAPPER.readTree(JsonFormat.printer().omittingInsignificantWhitespace().print(message));
        } catch (Exception exc) {
            throw new MicroserviceException("cannot convert " + message.getDescriptorForType().getName() + " to JSON: "
                    + exc.getMessage(), 500, MicroserviceException.INTERNAL_ERROR);
        }
    }

    /**
     * A REST Feedback, parsed as upstream does (protobuf's JSON parser, unknown fields refused):
     * a SeldonMessage posted as feedback is a 400 naming the field, not a 200 that drops it.
     */
    public static Feedback feedbackFromJson(JsonNode json) {
        Feedback.Builder builder = Feedback.newBuilder();
        try {
            JsonFormat.parser().merge(Json.MAPPER.writeValueAsString(json), builder);
            return builder.build();
        } catch (Exception exc) {
            throw new MicroserviceException("Invalid JSON: " + exc.getMessage());
        }
    }

    /** Proto-JSON into a builder; unknown fields are ignored, a wrong type names the message. */
    public static <B extends Message.Builder> B jsonToProto(JsonNode json, B builder, String where) {
        try {
            JsonFormat.parser().ignoringUnknownFields().merge(Json.MAPPER.writeValueAsString(json), builder);
            return builder;
        } catch (Exception exc) {
            throw new MicroserviceException(where + ": not a " + builder.getDescriptorForType().getName()
                    + " message: " + exc.getMessage());
        }
    }

    static String typeName(JsonNode node) {
        if (node == null || node.isNull()) {
            return "NoneType";
        }
        if (node.isArray()) {
            return "list";
        }
        if (node.isTextual()) {
            return "str";
        }
        if (node.isBoolean()) {
            return "bool";
        }
        if (node.isIntegralNumber()) {
            return "int";
        }
        if (node.isNumber()) {
            return "float";
        }
        return "dict";
    }

    static Iterator<String> names(JsonNode node) {
        return node.fieldNames();
    }
}
