package io.wharf.wrapper;

import com.fasterxml.jackson.databind.JsonNode;
import com.google.protobuf.Empty;
import com.google.protobuf.Message;
import io.grpc.MethodDescriptor;
import io.grpc.Server;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.ProtoReflectionService;
import io.grpc.stub.ServerCalls;
import io.seldon.protos.CombinerGrpc;
import io.seldon.protos.GenericGrpc;
import io.seldon.protos.ModelGrpc;
import io.seldon.protos.OutputTransformerGrpc;
import io.seldon.protos.PredictionProtos.SeldonMessage;
import io.seldon.protos.PredictionProtos.SeldonMessageList;
import io.seldon.protos.PredictionProtos.SeldonModelMetadata;
import io.seldon.protos.RouterGrpc;
import io.seldon.protos.SeldonGrpc;
import io.seldon.protos.TransformerGrpc;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The seven gRPC services of {@code prediction.proto} (Model, Generic, Router, Transformer,
 * OutputTransformer, Combiner, Seldon) plus server reflection, all answered by the same {@link Component}
 * as REST: each proto is read as proto-JSON, so both transports share one set of rules.
 */
public final class GrpcServer {
    /** grpcio's details for an error raised in upstream's Python servicer: kept first, as upstream's text. */
    static final String APPLICATION_ERROR = "Exception calling application: ";

    private static final Logger LOG = Logger.getLogger(GrpcServer.class.getName());

    @FunctionalInterface
    private interface JsonCall {
        JsonNode call(JsonNode message) throws Exception;
    }

    private final Component component;
    private final MetricsSink sink;
    private Server server;

    public GrpcServer(Component component, MetricsSink sink) {
        this.component = component;
        this.sink = sink;
    }

    public void start(String host, int port, int threads, int maxMessageBytes) throws IOException {
        Component c = component;
        NettyServerBuilder builder = NettyServerBuilder.forAddress(new InetSocketAddress(host, port))
                .executor(Executors.newFixedThreadPool(threads, r -> {
                    Thread t = new Thread(r, "wharf-grpc");
                    t.setDaemon(true);
                    return t;
                }))
                .maxInboundMessageSize(maxMessageBytes);
        builder.addService(ServerServiceDefinition.builder(ModelGrpc.getServiceDescriptor())
                .addMethod(ModelGrpc.getPredictMethod(), seldon("predict", c::predict))
                .addMethod(ModelGrpc.getSendFeedbackMethod(), seldon("feedback", c::sendFeedback))
                .addMethod(ModelGrpc.getMetadataMethod(), metadata())
                .build());
        builder.addService(ServerServiceDefinition.builder(GenericGrpc.getServiceDescriptor())
                .addMethod(GenericGrpc.getTransformInputMethod(), seldon("inputtransform", c::transformInput))
                .addMethod(GenericGrpc.getTransformOutputMethod(), seldon("outputtransform", c::transformOutput))
                .addMethod(GenericGrpc.getRouteMethod(), seldon("router", c::route))
                .addMethod(GenericGrpc.getAggregateMethod(), seldon("aggregate", c::aggregate))
                .addMethod(GenericGrpc.getSendFeedbackMethod(), seldon("feedback", c::sendFeedback))
                .build());
        builder.addService(ServerServiceDefinition.builder(RouterGrpc.getServiceDescriptor())
                .addMethod(RouterGrpc.getRouteMethod(), seldon("router", c::route))
                .addMethod(RouterGrpc.getSendFeedbackMethod(), seldon("feedback", c::sendFeedback))
                .build());
        builder.addService(ServerServiceDefinition.builder(TransformerGrpc.getServiceDescriptor())
                .addMethod(TransformerGrpc.getTransformInputMethod(), seldon("inputtransform", c::transformInput))
                .build());
        builder.addService(ServerServiceDefinition.builder(OutputTransformerGrpc.getServiceDescriptor())
                .addMethod(OutputTransformerGrpc.getTransformOutputMethod(), seldon("outputtransform", c::transformOutput))
                .build());
        builder.addService(ServerServiceDefinition.builder(CombinerGrpc.getServiceDescriptor())
                .addMethod(CombinerGrpc.getAggregateMethod(), seldon("aggregate", c::aggregate))
                .build());
        builder.addService(ServerServiceDefinition.builder(SeldonGrpc.getServiceDescriptor())
                .addMethod(SeldonGrpc.getPredictMethod(), seldon("predict", c::predict))
                .addMethod(SeldonGrpc.getSendFeedbackMethod(), seldon("feedback", c::sendFeedback))
                .addMethod(SeldonGrpc.getModelMetadataMethod(), metadata())
                .addMethod(SeldonGrpc.getGraphMetadataMethod(), ServerCalls.asyncUnaryCall((Empty req, io.grpc.stub.StreamObserver<io.seldon.protos.PredictionProtos.SeldonGraphMetadata> out) ->
                        out.onError(Status.UNIMPLEMENTED.withDescription(APPLICATION_ERROR
                                + "GraphMetadata not available on the Model level.: the graph orchestrator serves it, not a component")
                                .asRuntimeException())))
                .build());
        builder.addService(ProtoReflectionService.newInstance());
        server = builder.build().start();
    }

    public int port() {
        return server.getPort();
    }

    public void stop(int graceSeconds) throws InterruptedException {
        if (server != null) {
            server.shutdown();
            server.awaitTermination(graceSeconds, TimeUnit.SECONDS);
            server.shutdownNow();
        }
    }

    /** A unary call whose answer is a SeldonMessage built by the component from proto-JSON. */
    private <Req extends Message> io.grpc.ServerCallHandler<Req, SeldonMessage> seldon(String label, JsonCall call) {
        return ServerCalls.asyncUnaryCall((Req request, io.grpc.stub.StreamObserver<SeldonMessage> out) -> {
            long started = System.nanoTime();
            int code = 200;
            try {
                JsonNode in = request instanceof SeldonMessage m ? ProtoJson.toJson(m)
                        : request instanceof SeldonMessageList l ? ProtoJson.toJson(l) : Messages.protoToJson(request);
                out.onNext(ProtoJson.toProto(call.call(in)));
                out.onCompleted();
            } catch (Throwable exc) {
                MicroserviceException err = MicroserviceException.of(exc);
                code = err.statusCode();
                if (code >= 500) {
                    LOG.log(Level.SEVERE, label + " failed: " + exc, exc instanceof MicroserviceException ? null : exc);
                }
                out.onError(statusFor(code).withDescription(APPLICATION_ERROR + err.getMessage()).asRuntimeException());
            }
            sink.observeRequest(label, code, (System.nanoTime() - started) / 1e9);
        });
    }

    private <Req> io.grpc.ServerCallHandler<Req, SeldonModelMetadata> metadata() {
        return ServerCalls.asyncUnaryCall((Req request, io.grpc.stub.StreamObserver<SeldonModelMetadata> out) -> {
            try {
                out.onNext(Messages.jsonToProto(component.requireMetadata(), SeldonModelMetadata.newBuilder(), "metadata").build());
                out.onCompleted();
            } catch (MicroserviceException err) {
                out.onError(statusFor(err.statusCode()).withDescription(APPLICATION_ERROR + err.getMessage()).asRuntimeException());
            }
        });
    }

    /** The same HTTP-status to gRPC-code table as the Python server. */
    static Status statusFor(int http) {
        return switch (http) {
            case 400 -> Status.INVALID_ARGUMENT;
            case 401 -> Status.UNAUTHENTICATED;
            case 403 -> Status.PERMISSION_DENIED;
            case 404 -> Status.NOT_FOUND;
            case 409 -> Status.ALREADY_EXISTS;
            case 429 -> Status.RESOURCE_EXHAUSTED;
            case 499 -> Status.CANCELLED;
            case 501 -> Status.UNIMPLEMENTED;
            case 503 -> Status.UNAVAILABLE;
            case 504 -> Status.DEADLINE_EXCEEDED;
            default -> http >= 400 && http < 500 ? Status.INVALID_ARGUMENT : Status.INTERNAL;
        };
    }

}
