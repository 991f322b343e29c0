package io.wharf.wrapper;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.logging.Logger;

/** Model metadata: defaults from the image, the component's {@code metadata()}, MODEL_METADATA, then a schema check. */
public final class Metadata {
    private static final Logger LOG = Logger.getLogger(Metadata.class.getName());
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    private static final Set<String> TOP = Set.of("name", "versions", "platform", "inputs", "outputs", "custom");
    private static final Set<String> KNOWN = Set.of("tensor", "ndarray", "tftensor", "jsonData", "strData", "binData");
    private static final Set<String> V2_TYPES = Set.of("BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16",
            "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES");

    /** The document, or null and why it was refused (then /metadata answers 500). */
    public record Result(ObjectNode document, String error) {}

    private Metadata() {}

    /** {@code registry:5000/repo/name:tag} -> name and tag. */
    static String[] splitImage(String image) {
        int colon = image.lastIndexOf(':');
        if (colon < 0 || image.substring(colon + 1).contains("/")) {
            return new String[] {image, ""};
        }
        return new String[] {image.substring(0, colon), image.substring(colon + 1)};
    }

    public static Result build(String image, SeldonComponent user, String fromEnv) {
        String[] nameTag = splitImage(image);
        ObjectNode meta = Json.MAPPER.createObjectNode();
        meta.put("name", nameTag[0]);
        meta.putArray("versions").add(nameTag[1]);
        meta.put("platform", "");
        meta.putArray("inputs");
        meta.putArray("outputs");
        meta.putObject("custom");
        try {
            Map<String, Object> fromUser = user.metadata();
            if (fromUser != null) {
                meta.setAll((ObjectNode) Json.MAPPER.valueToTree(fromUser));
            }
        } catch (Exception exc) {
            LOG.severe("metadata() failed: " + exc);
            return new Result(null, "metadata() failed: " + exc.getMessage());
        }
        if (fromEnv != null && !fromEnv.isBlank()) {
            try {
                JsonNode env = YAML.readTree(fromEnv);
                if (env instanceof ObjectNode obj) {
                    meta.setAll(obj);
                } else if (env != null && !env.isNull() && !env.isMissingNode()) {
                    LOG.severe("MODEL_METADATA must be a mapping, ignored: " + fromEnv);
                }
            } catch (Exception exc) {
                LOG.severe("MODEL_METADATA is not valid YAML/JSON, ignored: " + exc.getMessage());
            }
        }
        List<String> errors = validate(meta);
        if (!errors.isEmpty()) {
            String why = String.join("; ", errors);
            LOG.severe("model metadata is invalid and will not be served: " + why);
            return new Result(null, why);
        }
        return new Result(meta, "");
    }

    /** The same rules as the Python server's JSON schema, as a list of "path: problem". */
    static List<String> validate(ObjectNode meta) {
        List<String> errors = new ArrayList<>();
        meta.fieldNames().forEachRemaining(k -> {
            if (!TOP.contains(k)) {
                errors.add("metadata: additional property '" + k + "' is not allowed");
            }
        });
        if (meta.has("name") && !meta.get("name").isTextual()) {
            errors.add("name: must be a string");
        }
        if (meta.has("platform") && !meta.get("platform").isTextual()) {
            errors.add("platform: must be a string");
        }
        if (meta.has("versions") && !allText(meta.get("versions"))) {
            errors.add("versions: must be a list of strings");
        }
        if (meta.has("custom")) {
            JsonNode custom = meta.get("custom");
            if (!custom.isObject()) {
                errors.add("custom: must be a mapping of strings");
            } else {
                custom.fields().forEachRemaining(e -> {
                    if (!e.getValue().isTextual()) {
                        errors.add("custom/" + e.getKey() + ": must be a string");
                    }
                });
            }
        }
        for (String io : List.of("inputs", "outputs")) {
            JsonNode items = meta.get(io);
            if (items == null) {
                continue;
            }
            if (!items.isArray()) {
                errors.add(io + ": must be a list");
                continue;
            }
            for (int i = 0; i < items.size(); i++) {
                if (!validItem(items.get(i))) {
                    errors.add(io + "/" + i + ": " + items.get(i) + " is not a valid input/output description");
                }
            }
        }
        return errors;
    }

    private static boolean validItem(JsonNode item) {
        if (!item.isObject()) {
            return false;
        }
        if (!item.has("messagetype")) { // a V2-style tensor: name, datatype, shape (all optional)
            return only(item, "name", "datatype", "shape")
                    && (!item.has("name") || item.get("name").isTextual())
                    && (!item.has("datatype") || V2_TYPES.contains(item.get("datatype").asText("")))
                    && (!item.has("shape") || allInts(item.get("shape")));
        }
        JsonNode typeNode = item.get("messagetype");
        if (!typeNode.isTextual()) {
            return false;
        }
        String type = typeNode.asText();
        JsonNode schema = item.get("schema");
        switch (type) {
            case "tensor", "ndarray", "tftensor" -> {
                if (!only(item, "messagetype", "schema")) {
                    return false;
                }
                if (schema == null) {
                    return true;
                }
                return schema.isObject() && only(schema, "names", "shape")
                        && (!schema.has("names") || allText(schema.get("names")))
                        && (!schema.has("shape") || allInts(schema.get("shape")));
            }
            case "strData", "binData" -> {
                return only(item, "messagetype");
            }
            default -> {
                return only(item, "messagetype", "schema") && (schema == null || schema.isObject());
            }
        }
    }

    private static boolean only(JsonNode obj, String... allowed) {
        Set<String> ok = Set.of(allowed);
        var it = obj.fieldNames();
        while (it.hasNext()) {
            if (!ok.contains(it.next())) {
                return false;
            }
        }
        return true;
    }

    private static boolean allText(JsonNode list) {
        if (!list.isArray()) {
            return false;
        }
        for (JsonNode n : list) {
            if (!n.isTextual()) {
                return false;
            }
        }
        return true;
    }

    private static boolean allInts(JsonNode list) {
        if (!list.isArray()) {
            return false;
        }
        for (JsonNode n : list) {
            if (!n.isIntegralNumber()) {
                return false;
            }
        }
        return true;
    }

    static boolean known(String type) {
        return KNOWN.contains(type);
    }
}
