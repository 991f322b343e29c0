package io.wharf.wrapper;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.StatusRuntimeException;
import io.seldon.protos.ModelGrpc;
import io.seldon.protos.PredictionProtos.DefaultData;
import io.seldon.protos.PredictionProtos.SeldonMessage;
import io.seldon.protos.PredictionProtos.Tensor;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** REST and gRPC servers in-process on ephemeral loopback ports, with a model that doubles its input. */
class ServerTest {
    static class Doubler implements SeldonComponent {
        @Override
        public Object predict(Payload request) {
            double[][] m = request.toMatrix();
            for (double[] row : m) {
                for (int i = 0; i < row.length; i++) {
                    row[i] *= 2;
                }
            }
            return m;
        }
    }

    static RestServer rest;
    static GrpcServer grpc;
    static final HttpClient HTTP = HttpClient.newHttpClient();

    @BeforeAll
    static void start() throws Exception {
        Component c = new Component(new Doubler(), UnitInfo.defaults(), MetricsSink.NONE);
        rest = new RestServer(c, MetricsSink.NONE);
        rest.start("127.0.0.1", 0, 2);
        grpc = new GrpcServer(c, MetricsSink.NONE);
        grpc.start("127.0.0.1", 0, 2, 1 << 20);
    }

    @AfterAll
    static void stop() throws Exception {
        rest.stop(0);
        grpc.stop(1);
    }

    private static HttpResponse<String> post(String path, String body) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + rest.port() + path))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void restPredictDoublesAndKeepsTheKind() throws Exception {
        HttpResponse<String> r = post("/api/v1.0/predictions", "{\"data\":{\"ndarray\":[[1,2]]}}");
        assertEquals(200, r.statusCode());
        assertEquals("{\"data\":{\"names\":[\"t:0\",\"t:1\"],\"ndarray\":[[2.0,4.0]]},\"meta\":{}}", r.body());
        assertEquals("*", r.headers().firstValue("access-control-allow-origin").orElse(""));
    }

    @Test
    void restErrorsHaveUpstreamShape() throws Exception {
        HttpResponse<String> r = post("/predict", "{\"strData\":\"x\"}");
        assertEquals(400, r.statusCode());
        assertTrue(r.body().contains("\"reason\":\"MICROSERVICE_BAD_DATA\""), r.body());
        assertEquals(400, post("/route", "{\"data\":{\"ndarray\":[1]}}").statusCode()); // Route not defined
    }

    @Test
    void grpcPredictAndErrorCodes() {
        ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", grpc.port()).usePlaintext().build();
        try {
            var stub = ModelGrpc.newBlockingStub(channel);
            SeldonMessage reply = stub.predict(SeldonMessage.newBuilder().setData(DefaultData.newBuilder()
                    .setTensor(Tensor.newBuilder().addShape(1).addShape(2).addValues(1).addValues(3))).build());
            assertEquals(6.0, reply.getData().getTensor().getValues(1));
            StatusRuntimeException err = org.junit.jupiter.api.Assertions.assertThrows(StatusRuntimeException.class,
                    () -> stub.predict(SeldonMessage.newBuilder().setStrData("x").build()));
            assertEquals(io.grpc.Status.Code.INVALID_ARGUMENT, err.getStatus().getCode());
        } finally {
            channel.shutdownNow();
        }
    }
}
