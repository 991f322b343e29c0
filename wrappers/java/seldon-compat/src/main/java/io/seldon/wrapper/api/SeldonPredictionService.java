package io.seldon.wrapper.api;

import com.google.protobuf.InvalidProtocolBufferException;
import io.seldon.protos.PredictionProtos.Feedback;
import io.seldon.protos.PredictionProtos.SeldonMessage;
import io.seldon.protos.PredictionProtos.SeldonMessageList;
import io.seldon.wrapper.pb.ProtoBufUtils;

/**
 * The handler interface of upstream's Java wrapper, source-compatible: same package, same methods,
 * same defaults (an empty {@code SeldonMessage}, as upstream's last wrapper release answered), so a
 * class written for it compiles unchanged. Wharf serves it through {@link io.seldon.wrapper.SeldonServing}.
 *
 * <p>What a method returns is sent back as it is, as upstream did: no {@code meta} is merged in.
 * {@code route} answers with the branch in its first data value; Wharf reads that number.
 */
public interface SeldonPredictionService {

    /** Upstream's raw REST entry point: JSON in, JSON out, through {@link #predict}. */
    default String predictRawREST(String request) throws InvalidProtocolBufferException {
        SeldonMessage.Builder builder = SeldonMessage.newBuilder();
        ProtoBufUtils.updateMessageBuilderFromJson(builder, request);
        return ProtoBufUtils.toJson(predict(builder.build()), true);
    }

    /** Upstream's raw gRPC entry point: serialized proto in and out, through {@link #predict}. */
    default byte[] predictRawGRPC(byte[] request) throws InvalidProtocolBufferException {
        return predict(SeldonMessage.parseFrom(request)).toByteArray();
    }

    default SeldonMessage predict(SeldonMessage request) {
        return SeldonMessage.newBuilder().build();
    }

    default SeldonMessage route(SeldonMessage request) {
        return SeldonMessage.newBuilder().build();
    }

    default SeldonMessage sendFeedback(Feedback request) {
        return SeldonMessage.newBuilder().build();
    }

    default SeldonMessage transformInput(SeldonMessage request) {
        return SeldonMessage.newBuilder().build();
    }

    default SeldonMessage transformOutput(SeldonMessage request) {
        return SeldonMessage.newBuilder().build();
    }

    default SeldonMessage aggregate(SeldonMessageList request) {
        return SeldonMessage.newBuilder().build();
    }
}
