package io.wharf.wrapper;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.protobuf.ByteString;
import com.google.protobuf.ListValue;
import com.google.protobuf.NullValue;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.seldon.protos.PredictionProtos.DefaultData;
import io.seldon.protos.PredictionProtos.Meta;
import io.seldon.protos.PredictionProtos.SeldonMessage;
import io.seldon.protos.PredictionProtos.SeldonMessageList;
import io.seldon.protos.PredictionProtos.Status;
import java.util.Base64;
import java.util.Iterator;
import java.util.Map;
import org.tensorflow.framework.TensorProto;

/**
 * SeldonMessage <-> SeldonMessage JSON without going through JSON text for the payload: tensors,
 * ndarrays (ListValue), jsonData, strData and binData are converted field by field (the protobuf
 * JsonFormat route is several times slower on large arrays); small parts (meta, status, tftensor)
 * still use JsonFormat. The JSON is what proto-JSON would give, except that a tensor always carries
 * {@code shape} and {@code values}.
 */
final class ProtoJson {
    private static final JsonNodeFactory F = Json.NODES;

    private ProtoJson() {}

    static ObjectNode toJson(SeldonMessage msg) {
        ObjectNode out = F.objectNode();
        if (msg.hasStatus()) {
            out.set("status", Messages.protoToJson(msg.getStatus()));
        }
        if (msg.hasMeta()) {
            out.set("meta", Messages.protoToJson(msg.getMeta()));
        }
        switch (msg.getDataOneofCase()) {
            case DATA -> {
                DefaultData data = msg.getData();
                ObjectNode d = out.putObject("data");
                if (data.getNamesCount() > 0) {
                    ArrayNode names = d.putArray("names");
                    data.getNamesList().forEach(names::add);
                }
                switch (data.getDataOneofCase()) {
                    case TENSOR -> {
                        ObjectNode t = d.putObject("tensor");
                        ArrayNode shape = t.putArray("shape");
                        data.getTensor().getShapeList().forEach(shape::add);
                        ArrayNode values = t.putArray("values");
                        for (int i = 0; i < data.getTensor().getValuesCount(); i++) {
                            values.add(data.getTensor().getValues(i));
                        }
                    }
                    case NDARRAY -> d.set("ndarray", list(data.getNdarray()));
                    case TFTENSOR -> d.set("tftensor", Messages.protoToJson(data.getTftensor()));
                    default -> { }
                }
            }
            case BINDATA -> out.put("binData", Base64.getEncoder().encodeToString(msg.getBinData().toByteArray()));
            case STRDATA -> out.put("strData", msg.getStrData());
            case JSONDATA -> out.set("jsonData", value(msg.getJsonData()));
            case CUSTOMDATA -> throw new MicroserviceException("customData is not supported by the Java wrapper");
            default -> { }
        }
        return out;
    }

    static ObjectNode toJson(SeldonMessageList list) {
        ObjectNode out = F.objectNode();
        ArrayNode items = out.putArray("seldonMessages");
        list.getSeldonMessagesList().forEach(m -> items.add(toJson(m)));
        return out;
    }

    static SeldonMessage toProto(JsonNode json) {
        SeldonMessage.Builder b = SeldonMessage.newBuilder();
        if (json.get("status") instanceof ObjectNode status) {
            b.setStatus(Messages.jsonToProto(status, Status.newBuilder(), "response.status"));
        }
        if (json.get("meta") instanceof ObjectNode meta) {
            b.setMeta(Messages.jsonToProto(meta, Meta.newBuilder(), "response.meta"));
        }
        if (json.get("data") instanceof ObjectNode data) {
            DefaultData.Builder d = b.getDataBuilder();
            for (JsonNode n : data.path("names")) {
                d.addNames(n.asText());
            }
            if (data.get("tensor") instanceof ObjectNode t) {
                var tensor = d.getTensorBuilder();
                t.path("shape").forEach(x -> tensor.addShape(x.asInt()));
                t.path("values").forEach(x -> tensor.addValues(x.asDouble()));
            } else if (data.get("ndarray") instanceof ArrayNode nd) {
                d.setNdarray(listValue(nd));
            } else if (data.get("tftensor") instanceof ObjectNode tf) {
                d.setTftensor(Messages.jsonToProto(tf, TensorProto.newBuilder(), "response.data.tftensor"));
            }
        } else if (json.has("strData")) {
            b.setStrData(json.get("strData").asText());
        } else if (json.has("binData")) {
            b.setBinData(ByteString.copyFrom(Base64.getDecoder().decode(json.get("binData").asText())));
        } else if (json.has("jsonData")) {
            b.setJsonData(value(json.get("jsonData")));
        }
        return b.build();
    }

    private static ArrayNode list(ListValue list) {
        ArrayNode out = F.arrayNode(list.getValuesCount());
        for (int i = 0; i < list.getValuesCount(); i++) {
            out.add(value(list.getValues(i)));
        }
        return out;
    }

    private static JsonNode value(Value v) {
        return switch (v.getKindCase()) {
            case NUMBER_VALUE -> F.numberNode(v.getNumberValue());
            case STRING_VALUE -> F.textNode(v.getStringValue());
            case BOOL_VALUE -> F.booleanNode(v.getBoolValue());
            case LIST_VALUE -> list(v.getListValue());
            case STRUCT_VALUE -> {
                ObjectNode o = F.objectNode();
                v.getStructValue().getFieldsMap().forEach((k, x) -> o.set(k, value(x)));
                yield o;
            }
            default -> F.nullNode();
        };
    }

    private static ListValue listValue(JsonNode array) {
        ListValue.Builder b = ListValue.newBuilder();
        for (JsonNode n : array) {
            b.addValues(value(n));
        }
        return b.build();
    }

    private static Value value(JsonNode n) {
        if (n.isNumber()) {
            return Value.newBuilder().setNumberValue(n.asDouble()).build();
        }
        if (n.isTextual()) {
            return Value.newBuilder().setStringValue(n.asText()).build();
        }
        if (n.isBoolean()) {
            return Value.newBuilder().setBoolValue(n.asBoolean()).build();
        }
        if (n.isArray()) {
            return Value.newBuilder().setListValue(listValue(n)).build();
        }
        if (n.isObject()) {
            Struct.Builder s = Struct.newBuilder();
            for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                s.putFields(e.getKey(), value(e.getValue()));
            }
            return Value.newBuilder().setStructValue(s).build();
        }
        return Value.newBuilder().setNullValue(NullValue.NULL_VALUE).build();
    }
}
