package io.wharf.wrapper;

import io.seldon.protos.PredictionProtos.Feedback;

/**
 * A component that takes the whole {@code Feedback} message instead of its decoded parts: the Seldon
 * compatibility layer's handlers are written against upstream's {@code sendFeedback(Feedback)}, and
 * rebuilding the message from {@link Payload}s would lose its {@code response} field.
 */
public interface FeedbackMessageHandler {
    Object sendFeedback(Feedback feedback) throws Exception;
}
