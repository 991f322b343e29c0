package io.seldon.wrapper;

import com.fasterxml.jackson.databind.JsonNode;
import io.seldon.protos.PredictionProtos.DefaultData;
import io.seldon.protos.PredictionProtos.Feedback;
import io.seldon.protos.PredictionProtos.SeldonMessage;
import io.seldon.protos.PredictionProtos.SeldonMessageList;
import io.seldon.wrapper.api.SeldonPredictionService;
import io.wharf.wrapper.FeedbackMessageHandler;
import io.wharf.wrapper.Messages;
import io.wharf.wrapper.MicroserviceException;
import io.wharf.wrapper.Payload;
import io.wharf.wrapper.SeldonComponent;
import java.lang.reflect.Method;
import java.util.List;

/**
 * An upstream {@link SeldonPredictionService} seen as Wharf's {@link SeldonComponent}: each request's
 * message becomes the {@code SeldonMessage} the handler expects, and the message it returns is sent
 * back as it is (Wharf's raw path), as upstream's wrapper did. REST and gRPC both come through here.
 */
public final class PredictionServiceComponent implements SeldonComponent, FeedbackMessageHandler {
    private final SeldonPredictionService handler;
    private final String name;
    private final boolean routes;
    private final boolean aggregates;

    public PredictionServiceComponent(SeldonPredictionService handler) {
        this.handler = handler;
        this.name = handler.getClass().getName();
        this.routes = overrides(handler, "route", SeldonMessage.class);
        this.aggregates = overrides(handler, "aggregate", SeldonMessageList.class);
    }

    public SeldonPredictionService handler() {
        return handler;
    }

    @Override
    public Object predict(Payload request) {
        return checked(handler.predict(message(request)), "predict");
    }

    @Override
    public Object transformInput(Payload request) {
        return checked(handler.transformInput(message(request)), "transformInput");
    }

    @Override
    public Object transformOutput(Payload request) {
        return checked(handler.transformOutput(message(request)), "transformOutput");
    }

    /**
     * Upstream's route answers a message whose first data value is the branch. A handler that does not
     * override it gets Wharf's answer for a missing route (400 "Route not defined"), not an empty
     * message the orchestrator could not read.
     */
    @Override
    public int route(Payload request) {
        if (!routes) {
            throw new MicroserviceException.NotImplemented("Route not defined");
        }
        SeldonMessage answer = checked(handler.route(message(request)), "route");
        DefaultData data = answer.getData();
        if (data.hasTensor() && data.getTensor().getValuesCount() > 0) {
            return (int) data.getTensor().getValues(0);
        }
        if (data.hasNdarray() && data.getNdarray().getValuesCount() > 0) {
            var first = data.getNdarray().getValues(0);
            var value = first.hasListValue() && first.getListValue().getValuesCount() > 0
                    ? first.getListValue().getValues(0) : first;
            if (value.hasNumberValue()) {
                return (int) value.getNumberValue();
            }
        }
        throw new MicroserviceException(name + ".route returned no branch: expected data with one number "
                + "(tensor values [n] or ndarray [[n]]), got " + Messages.protoToJson(answer), 500,
                MicroserviceException.INTERNAL_ERROR);
    }

    @Override
    public Object aggregate(List<Payload> requests) {
        if (!aggregates) {
            throw new MicroserviceException.NotImplemented("Aggregate not defined");
        }
        SeldonMessageList.Builder list = SeldonMessageList.newBuilder();
        requests.forEach(p -> list.addSeldonMessages(message(p)));
        return checked(handler.aggregate(list.build()), "aggregate");
    }

    @Override
    public Object sendFeedback(Feedback feedback) {
        return checked(handler.sendFeedback(feedback), "sendFeedback");
    }

    private static SeldonMessage message(Payload request) {
        JsonNode json = request.message();
        return json == null ? SeldonMessage.getDefaultInstance()
                : Messages.jsonToProto(json, SeldonMessage.newBuilder(), "request").build();
    }

    /** A null answer is the handler's bug: say which method, instead of a NullPointerException. */
    private SeldonMessage checked(SeldonMessage answer, String method) {
        if (answer == null) {
            throw new MicroserviceException(name + "." + method + " returned null: return a SeldonMessage "
                    + "(SeldonMessage.newBuilder().build() for an empty answer)", 500, MicroserviceException.INTERNAL_ERROR);
        }
        return answer;
    }

    private static boolean overrides(Object handler, String method, Class<?> parameter) {
        try {
            Method m = handler.getClass().getMethod(method, parameter);
            return m.getDeclaringClass() != SeldonPredictionService.class;
        } catch (NoSuchMethodException exc) {
            return false;
        }
    }
}
