package io.wharf.examples;

import io.wharf.wrapper.Payload;
import io.wharf.wrapper.SeldonComponent;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * A ROUTER: child 0 when the first feature of the first row is below {@code threshold}, else child 1.
 * Feedback rewards are summed per branch (an A/B test in its simplest form).
 */
public class ThresholdRouter implements SeldonComponent {
    private final double threshold;
    private final AtomicLongArray rewards = new AtomicLongArray(2);

    public ThresholdRouter(Map<String, Object> parameters) {
        Object t = parameters.get("threshold");
        this.threshold = t instanceof Number n ? n.doubleValue() : 0.0;
    }

    @Override
    public int route(Payload request) {
        double[] values = request.toVector();
        return values.length > 0 && values[0] >= threshold ? 1 : 0;
    }

    @Override
    public Object sendFeedback(Payload request, float reward, Payload truth, Integer routing) {
        if (routing != null && routing >= 0 && routing < 2) {
            rewards.addAndGet(routing, Math.round(reward));
        }
        return null;
    }

    @Override
    public Map<String, Object> tags() {
        return Map.of("router", "threshold", "threshold", threshold);
    }
}
