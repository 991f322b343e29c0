package io.wharf.testing;

import io.seldon.protos.PredictionProtos.DefaultData;
import io.seldon.protos.PredictionProtos.Feedback;
import io.seldon.protos.PredictionProtos.SeldonMessage;
import io.seldon.protos.PredictionProtos.SeldonMessageList;
import io.seldon.protos.PredictionProtos.Tensor;
import io.seldon.wrapper.api.SeldonPredictionService;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.stereotype.Component;

/**
 * An upstream-API handler (no @SpringBootApplication: found as the one @Component) that misbehaves on
 * request: strData "boom" throws, "null" returns null. Otherwise it echoes; it routes to the branch in
 * the request's first tensor value, aggregates to the first child and answers feedback with its reward.
 * A Spring property is injected, as upstream handlers could.
 */
@Component
public class CompatHandler implements SeldonPredictionService {
    private final String greeting;

    public CompatHandler(@Value("${compat.greeting:hello}") String greeting) {
        this.greeting = greeting;
    }

    @Override
    public SeldonMessage predict(SeldonMessage request) {
        if ("boom".equals(request.getStrData())) {
            throw new IllegalStateException("model failed on purpose");
        }
        if ("null".equals(request.getStrData())) {
            return null;
        }
        if ("greet".equals(request.getStrData())) {
            return SeldonMessage.newBuilder().setStrData(greeting).build();
        }
        return request;
    }

    @Override
    public SeldonMessage route(SeldonMessage request) {
        double branch = request.getData().getTensor().getValues(0);
        return SeldonMessage.newBuilder()
                .setData(DefaultData.newBuilder().setTensor(Tensor.newBuilder().addShape(1).addValues(branch))).build();
    }

    @Override
    public SeldonMessage aggregate(SeldonMessageList request) {
        return request.getSeldonMessages(0);
    }

    @Override
    public SeldonMessage sendFeedback(Feedback feedback) {
        return SeldonMessage.newBuilder().setStrData("reward " + feedback.getReward() + " routing "
                + feedback.getResponse().getMeta().getRoutingMap()).build();
    }
}
