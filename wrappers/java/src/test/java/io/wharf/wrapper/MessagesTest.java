package io.wharf.wrapper;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class MessagesTest {
    private static JsonNode json(String text) {
        return Json.parse(text, "test");
    }

    private static String encode(Object result, String request) {
        Payload p = Messages.decode(json(request), "request");
        return Json.MAPPER.valueToTree(Messages.encode(result, p, Messages::defaultNames)).toString();
    }

    @Test
    void tensorIsReshapedAndConvertedToMatrix() {
        Payload p = Messages.decode(json("{\"data\":{\"names\":[\"a\",\"b\"],\"tensor\":{\"shape\":[2,2],\"values\":[1,2,3,4]}}}"), "request");
        assertEquals("tensor", p.kind());
        assertEquals(List.of("a", "b"), p.names());
        assertArrayEquals(new double[] {3, 4}, p.toMatrix()[1]);
        assertArrayEquals(new int[] {2, 2}, p.shape());
        assertArrayEquals(new double[] {1, 2, 3, 4}, p.toVector());
    }

    @Test
    void numericResultMirrorsTheRequestKind() {
        String tensorIn = "{\"data\":{\"tensor\":{\"shape\":[1,2],\"values\":[1,2]}}}";
        assertEquals("{\"data\":{\"names\":[\"t:0\",\"t:1\"],\"tensor\":{\"shape\":[1,2],\"values\":[0.5,1.5]}}}",
                encode(new double[][] {{0.5, 1.5}}, tensorIn));
        String ndarrayIn = "{\"data\":{\"ndarray\":[[1,2]]}}";
        assertEquals("{\"data\":{\"names\":[\"t:0\",\"t:1\"],\"ndarray\":[[0.5,1.5]]}}", encode(new double[][] {{0.5, 1.5}}, ndarrayIn));
    }

    @Test
    void nonDataRequestsGetTensorForNumbersAndNdarrayOtherwise() {
        assertEquals("{\"data\":{\"names\":[],\"tensor\":{\"shape\":[2],\"values\":[1.0,2.0]}}}", encode(new double[] {1, 2}, "{\"strData\":\"x\"}"));
        assertEquals("{\"data\":{\"names\":[],\"ndarray\":[\"a\",\"b\"]}}", encode(List.of("a", "b"), "{\"strData\":\"x\"}"));
        assertEquals("{\"data\":{\"names\":[],\"ndarray\":[\"a\"]}}", encode(List.of("a"), "{\"data\":{\"tensor\":{\"values\":[1]}}}"));
    }

    @Test
    void scalarKindsByJavaType() {
        assertEquals("{\"strData\":\"s\"}", encode("s", "{\"strData\":\"x\"}"));
        assertEquals("{\"binData\":\"AAE=\"}", encode(new byte[] {0, 1}, "{\"strData\":\"x\"}"));
        assertEquals("{\"jsonData\":{\"a\":1,\"b\":2}}", encode(Map.of("b", 2, "a", 1), "{\"strData\":\"x\"}"));
        MicroserviceException err = assertThrows(MicroserviceException.class, () -> encode(42, "{\"strData\":\"x\"}"));
        assertTrue(err.getMessage().startsWith("Unknown data type returned as payload"));
        assertEquals(400, err.statusCode());
    }

    @Test
    void integersStayIntegersAndMixedListsWiden() {
        assertEquals("[[1,2]]", NdArray.of(json("[[1,2]]")).json().toString());
        assertEquals("[[1.0,2.5]]", NdArray.of(json("[[1,2.5]]")).json().toString());
        NdArray ragged = NdArray.of(json("[[1],[2,3]]"));
        assertEquals(1, ragged.ndim());
        assertTrue(!ragged.isNumeric());
    }

    @Test
    void badRequestsNameThePart() {
        MicroserviceException e1 = assertThrows(MicroserviceException.class, () -> Messages.decode(json("{\"x\":1}"), "request"));
        assertEquals("Invalid request data type: {\"x\":1}: request has none of data, jsonData, strData, binData (keys: x)",
                e1.getMessage());
        MicroserviceException e2 = assertThrows(MicroserviceException.class,
                () -> Messages.decode(json("{\"data\":{\"tensor\":{\"shape\":[3],\"values\":[1,2]}}}"), "request"));
        assertEquals("cannot reshape array of size 2 into shape (3,): request.data.tensor: 2 values do not fit shape [3]",
                e2.getMessage());
        assertEquals(500, e2.statusCode());
        MicroserviceException e3 = assertThrows(MicroserviceException.class, () -> Messages.decode(json("[1]"), "request"));
        assertEquals("Invalid request data type: [1]: request: expected a JSON object (SeldonMessage), got list",
                e3.getMessage());
    }

    @Test
    void metaMergesTagsDropsRoutingAndAddsThisUnit() {
        ObjectNode req = (ObjectNode) json("{\"puid\":\"p\",\"tags\":{\"a\":1},\"routing\":{\"r\":1},\"requestPath\":{\"up\":\"img:1\"}}");
        ObjectNode meta = Messages.responseMeta(req, List.of(Map.of("b", 2)), Json.NODES.arrayNode(), Map.of("me", "img:2"));
        assertEquals("{\"puid\":\"p\",\"requestPath\":{\"me\":\"img:2\",\"up\":\"img:1\"},\"tags\":{\"a\":1,\"b\":2}}", meta.toString());
        assertNull(meta.get("routing"));
    }

    @Test
    void tftensorRoundTripKeepsFloat32() {
        Payload p = Messages.decode(json("{\"data\":{\"tftensor\":{\"dtype\":\"DT_FLOAT\",\"tensorShape\":{\"dim\":[{\"size\":\"2\"}]},\"floatVal\":[1,2]}}}"), "request");
        assertArrayEquals(new double[] {1, 2}, p.toVector());
        JsonNode out = Messages.encode(p.value(), p, Messages::defaultNames).path("data").path("tftensor");
        assertEquals("DT_FLOAT", out.path("dtype").asText());
        assertEquals("AACAPwAAAEA=", out.path("tensorContent").asText());
    }
}
