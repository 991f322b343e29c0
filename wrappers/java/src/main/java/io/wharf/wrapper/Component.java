package io.wharf.wrapper;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.protobuf.Message;
import io.seldon.protos.PredictionProtos.Feedback;
import io.seldon.protos.PredictionProtos.SeldonMessage;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * A user {@link SeldonComponent} behind the Seldon v1 method contract, on SeldonMessage JSON: decode
 * the request, call the user method, build the response by the mirroring rules and merge {@code meta}.
 * Both transports use it (gRPC converts its protos to and from proto-JSON), so they cannot drift apart.
 */
public final class Component {
    private static final JsonNodeFactory F = Json.NODES;

    private final SeldonComponent user;
    private final UnitInfo unit;
    private final MetricsSink sink;
    private final Map<String, String> requestPath;
    private final String feedbackKey;
    private final Metadata.Result metadata;

    public Component(SeldonComponent user, UnitInfo unit, MetricsSink sink) {
        this.user = user;
        this.unit = unit;
        this.sink = sink;
        this.requestPath = unit.unitId() != null ? Map.of(unit.unitId(), unit.image()) : null;
        this.feedbackKey = unit.unitId() != null ? unit.unitId() : "0";
        this.metadata = Metadata.build(unit.image().equals(UnitInfo.UNSET_IMAGE) ? "" : unit.image(), user, unit.metadataEnv());
    }

    public SeldonComponent user() {
        return user;
    }

    public JsonNode predict(JsonNode msg) throws Exception {
        Payload p = Messages.decode(msg, "request");
        return respond(user.predict(p), p, "predict", p.meta());
    }

    public JsonNode transformInput(JsonNode msg) throws Exception {
        Payload p = Messages.decode(msg, "request");
        return respond(user.transformInput(p), p, "inputtransform", p.meta());
    }

    public JsonNode transformOutput(JsonNode msg) throws Exception {
        Payload p = Messages.decode(msg, "request");
        return respond(user.transformOutput(p), p, "outputtransform", p.meta());
    }

    public JsonNode route(JsonNode msg) throws Exception {
        Payload p = Messages.decode(msg, "request");
        int branch = user.route(p);
        // Only the request's puid reaches the route response (not its tags or requestPath).
        return respond(new int[][] {{branch}}, p, "router", puidOnly(p.meta()), true);
    }

    public JsonNode aggregate(JsonNode msg) throws Exception {
        List<Payload> payloads = Messages.decodeList(msg);
        if (payloads.isEmpty()) {
            // upstream indexes the first message: Python's IndexError, a 500
            throw new MicroserviceException("list index out of range: aggregate: the request holds no messages "
                    + "(seldonMessages is empty)", 500, MicroserviceException.INTERNAL_ERROR);
        }
        Object result = user.aggregate(payloads);
        return respond(result, payloads.get(0), "aggregate", mergeChildMeta(payloads));
    }

    /**
     * Feedback is read through the {@code Feedback} proto on both transports, as upstream does for REST
     * too (ints become floats, the reward a float32), and answered as proto-JSON.
     */
    public JsonNode sendFeedback(JsonNode msg) throws Exception {
        if (msg == null || !msg.isObject()) {
            throw new MicroserviceException("Invalid JSON: request: expected a Feedback object {request, response, reward, truth}");
        }
        Feedback feedback = Messages.feedbackFromJson(msg);
        float reward = feedback.getReward();
        if (unit.executorEnabled() && reward != 0) {
            sink.feedback(reward);
        }
        Payload request = feedbackPart(feedback.getRequest());
        Payload truth = feedbackPart(feedback.getTruth());
        Map<String, Integer> routing = feedback.getResponse().getMeta().getRoutingMap();
        Object result = user instanceof FeedbackMessageHandler whole ? whole.sendFeedback(feedback)
                : user.sendFeedback(request, reward, truth, routing.get(feedbackKey));
        JsonNode out = respond(result == null ? new double[0] : result, request, "feedback", puidOnly(request.meta()));
        SeldonMessage proto = Messages.jsonToProto(out, SeldonMessage.newBuilder(), "response").build();
        return Messages.protoToJson(proto);
    }

    public JsonNode healthStatus() throws Exception {
        return respond(user.healthStatus(), Messages.NO_PAYLOAD, "health", null);
    }

    public ObjectNode requireMetadata() {
        if (metadata.document() == null) {
            throw new MicroserviceException("Model metadata unavailable: " + metadata.error(), 500,
                    MicroserviceException.BAD_METADATA);
        }
        return metadata.document();
    }

    // --- helpers -------------------------------------------------------------------------------

    private static Payload feedbackPart(SeldonMessage msg) {
        if (msg.getDataOneofCase() == SeldonMessage.DataOneofCase.DATA) {
            return Messages.decode(Messages.protoToJson(msg), "request");
        }
        ObjectNode meta = msg.hasMeta() ? (ObjectNode) Messages.protoToJson(msg.getMeta()) : null;
        String kind = switch (msg.getDataOneofCase()) {
            case BINDATA -> "binData";
            case STRDATA -> "strData";
            case JSONDATA -> "jsonData";
            case CUSTOMDATA -> "customData";
            default -> "none";
        };
        return new Payload(kind, NdArray.of(F.arrayNode()), null, null, null, List.of(), meta, null);
    }

    private JsonNode respond(Object result, Payload request, String label, ObjectNode requestMeta) {
        return respond(result, request, label, requestMeta, false);
    }

    private JsonNode respond(Object result, Payload request, String label, ObjectNode requestMeta, boolean route) {
        if (result instanceof Message proto) { // a SeldonMessage: sent back as it is (upstream's *_raw)
            JsonNode raw = Messages.protoToJson(proto);
            if (raw instanceof ObjectNode obj && obj.get("meta") instanceof ObjectNode meta
                    && meta.get("metrics") instanceof ArrayNode metrics && !metrics.isEmpty()) {
                sink.record(label, fromJson(metrics));
                if (!unit.includeMetricsInResponse()) {
                    meta.remove("metrics");
                }
            }
            return raw;
        }
        Map<String, Object> runtimeTags = null;
        List<Metric> runtimeMetrics = List.of();
        if (result instanceof Response r) {
            runtimeTags = r.tags();
            runtimeMetrics = r.metrics() == null ? List.of() : r.metrics();
            result = r.data();
        }
        List<Metric> metrics = new ArrayList<>();
        List<Metric> fromUser = user.metrics();
        if (fromUser != null) {
            metrics.addAll(fromUser);
        }
        metrics.addAll(runtimeMetrics);
        validate(metrics);
        if (!metrics.isEmpty()) {
            sink.record(label, metrics);
        }
        ObjectNode out = Messages.encode(result, request, this::names);
        ArrayNode echoed = F.arrayNode();
        if (unit.includeMetricsInResponse()) {
            metrics.forEach(m -> echoed.add(toJson(m)));
        }
        out.set("meta", Messages.responseMeta(requestMeta, Arrays.asList(user.tags(), runtimeTags), echoed, requestPath));
        return out;
    }

    private List<String> names(NdArray arr) {
        if (arr.ndim() > 1) {
            List<String> names = user.classNames();
            if (names != null) {
                return names;
            }
        }
        return Messages.defaultNames(arr);
    }

    private static void validate(List<Metric> metrics) {
        for (int i = 0; i < metrics.size(); i++) {
            Metric m = metrics.get(i);
            if (m == null || m.key() == null || m.type() == null) {
                throw new MicroserviceException("metrics[" + i + "]: needs key, value and type, got " + m, 500,
                        MicroserviceException.BAD_METRIC);
            }
        }
    }

    static ObjectNode toJson(Metric m) {
        ObjectNode o = F.objectNode();
        o.put("key", m.key());
        o.put("type", m.type().name());
        o.put("value", m.value());
        if (m.tags() != null && !m.tags().isEmpty()) {
            ObjectNode tags = o.putObject("tags");
            m.tags().forEach(tags::put);
        }
        return o;
    }

    private static List<Metric> fromJson(ArrayNode metrics) {
        List<Metric> out = new ArrayList<>();
        for (JsonNode m : metrics) {
            Metric.Type type;
            try {
                type = Metric.Type.valueOf(m.path("type").asText("COUNTER"));
            } catch (IllegalArgumentException exc) {
                throw new MicroserviceException("meta.metrics: type " + m.path("type") + " is not one of COUNTER, GAUGE, TIMER",
                        500, MicroserviceException.BAD_METRIC);
            }
            Map<String, String> tags = new java.util.TreeMap<>();
            m.path("tags").fields().forEachRemaining(e -> tags.put(e.getKey(), e.getValue().asText()));
            out.add(new Metric(m.path("key").asText(), type, m.path("value").asDouble(), tags));
        }
        return out;
    }

    private static ObjectNode puidOnly(ObjectNode meta) {
        if (meta != null && meta.get("puid") != null && !meta.get("puid").asText().isEmpty()) {
            ObjectNode o = F.objectNode();
            o.set("puid", meta.get("puid"));
            return o;
        }
        return null;
    }

    /** Children's tags and requestPath merged, metrics concatenated, the first child's puid kept. */
    private static ObjectNode mergeChildMeta(List<Payload> payloads) {
        ObjectNode merged = F.objectNode();
        ObjectNode first = payloads.get(0).meta();
        if (first != null && first.get("puid") != null && !first.get("puid").asText().isEmpty()) {
            merged.set("puid", first.get("puid"));
        }
        ObjectNode tags = merged.putObject("tags");
        ObjectNode path = merged.putObject("requestPath");
        ArrayNode metrics = merged.putArray("metrics");
        for (Payload p : payloads) {
            if (p.meta() == null) {
                continue;
            }
            if (p.meta().get("tags") instanceof ObjectNode t) {
                tags.setAll(t);
            }
            if (p.meta().get("requestPath") instanceof ObjectNode rp) {
                path.setAll(rp);
            }
            if (p.meta().get("metrics") instanceof ArrayNode m) {
                metrics.addAll(m);
            }
        }
        return merged;
    }
}
