package io.seldon.wrapper.pb;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.MessageOrBuilder;
import com.google.protobuf.util.JsonFormat;

/**
 * The proto-JSON helpers upstream's wrapper offered to handlers (and its interface's raw methods use):
 * {@code toJson} and {@code updateMessageBuilderFromJson}, on protobuf's own JSON format.
 */
public final class ProtoBufUtils {
    private ProtoBufUtils() {}

    public static String toJson(MessageOrBuilder message) throws InvalidProtocolBufferException {
        return toJson(message, false);
    }

    /** {@code withDefaults}: print fields that hold their default value too. */
    public static String toJson(MessageOrBuilder message, boolean withDefaults) throws InvalidProtocolBufferException {
        JsonFormat.Printer printer = JsonFormat.printer().omittingInsignificantWhitespace();
        return (withDefaults ? printer.includingDefaultValueFields() : printer).print(message);
    }

    /** Merge proto-JSON into {@code builder}; fields the message lacks are ignored. */
    public static void updateMessageBuilderFromJson(Message.Builder builder, String json)
            throws InvalidProtocolBufferException {
        JsonFormat.parser().ignoringUnknownFields().merge(json, builder);
    }
}
