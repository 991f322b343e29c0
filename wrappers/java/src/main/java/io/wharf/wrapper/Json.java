package io.wharf.wrapper;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.StreamWriteFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.TreeMap;

/** The one Jackson mapper: objects and maps are written in key order, like the Python server's. */
public final class Json {
    /** Objects keep their keys sorted, so responses are written in the same key order as the Python server's. */
    public static final JsonNodeFactory NODES = new JsonNodeFactory() {
        @Override
        public ObjectNode objectNode() {
            return new ObjectNode(this, new TreeMap<>());
        }
    };

    public static final ObjectMapper MAPPER = new ObjectMapper(JsonFactory.builder()
            // Double parsing/printing dominate large ndarray payloads; Jackson's fast paths give the
            // the same values, and the shortest round-trip text (as Python's repr) when printing.
            .enable(StreamReadFeature.USE_FAST_DOUBLE_PARSER)
            .enable(StreamWriteFeature.USE_FAST_DOUBLE_WRITER)
            .build())
            .setNodeFactory(NODES)
            .configure(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS, true)
            .configure(DeserializationFeature.USE_BIG_INTEGER_FOR_INTS, false);

    private Json() {}

    public static JsonNode parse(byte[] raw, String where) {
        try {
            return MAPPER.readTree(raw);
        } catch (java.io.IOException exc) {
            throw new MicroserviceException(where + " is not valid JSON: " + firstLine(exc.getMessage()));
        }
    }

    public static JsonNode parse(String raw, String where) {
        return parse(raw.getBytes(java.nio.charset.StandardCharsets.UTF_8), where);
    }

    public static byte[] write(Object value) {
        try {
            return MAPPER.writeValueAsBytes(value);
        } catch (JsonProcessingException exc) {
            throw new MicroserviceException("response could not be written as JSON: " + exc.getOriginalMessage(), 500,
                    MicroserviceException.INTERNAL_ERROR);
        }
    }

    private static String firstLine(String text) {
        if (text == null) {
            return "";
        }
        int nl = text.indexOf('\n');
        return nl < 0 ? text : text.substring(0, nl);
    }
}
