package io.wharf.wrapper;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The REST server's body cap, over raw sockets: 413 before a declared body is read, or once a chunked one passes it. */
class RestLimitsTest {
    static final int CAP = 1000;
    static RestServer rest;

    @BeforeAll
    static void start() throws Exception {
        Component c = new Component(new SeldonComponent() {
            @Override
            public Object predict(Payload request) {
                return request.toMatrix();
            }
        }, UnitInfo.defaults(), MetricsSink.NONE);
        rest = new RestServer(c, MetricsSink.NONE, CAP);
        rest.start("127.0.0.1", 0, 2);
    }

    @AfterAll
    static void stop() {
        rest.stop(0);
    }

    /** Sends the head, then the body from another thread (a client that does not wait), and reads to the close. */
    private static String exchange(String head, byte[] body) throws Exception {
        try (Socket s = new Socket("127.0.0.1", rest.port())) {
            s.setSoTimeout(10_000);
            OutputStream out = s.getOutputStream();
            out.write(head.getBytes(StandardCharsets.ISO_8859_1));
            Thread sender = new Thread(() -> {
                try {
                    out.write(body);
                    out.flush();
                } catch (Exception exc) {
                    // the server answered and closed
                }
            });
            sender.start();
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            InputStream in = s.getInputStream();
            byte[] buf = new byte[8192];
            try {
                for (int n; (n = in.read(buf)) > 0; ) {
                    got.write(buf, 0, n);
                }
            } catch (java.net.SocketException exc) {
                // a reset after the answer
            }
            sender.join(10_000);
            return got.toString(StandardCharsets.ISO_8859_1);
        }
    }

    private static String predictWithLength(int length) throws Exception {
        String json = "{\"data\":{\"ndarray\":[[1]]},\"meta\":{\"tags\":{\"pad\":\"";
        String body = json + "x".repeat(length - json.length() - 4) + "\"}}}";
        assertEquals(length, body.length());
        return exchange("POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: " + length
                + "\r\nConnection: close\r\n\r\n", body.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void aBodyAtTheCapIsServedAndOneByteMoreIs413() throws Exception {
        assertTrue(predictWithLength(CAP).startsWith("HTTP/1.1 200"));
        String refused = predictWithLength(CAP + 1);
        assertTrue(refused.startsWith("HTTP/1.1 413"), refused);
        assertTrue(refused.toLowerCase().contains("connection: close"), refused);
        assertTrue(refused.contains("\"info\":\"Content-Length 1001 exceeds the limit of 1000 bytes\""), refused);
        assertTrue(refused.contains("\"reason\":\"MICROSERVICE_BAD_DATA\""), refused);
    }

    @Test
    void aHugeDeclaredBodyIsRefusedWithoutBeingRead() throws Exception {
        long started = System.nanoTime();
        String refused = exchange("POST /predict HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000000\r\n\r\n", new byte[1 << 20]);
        assertTrue(refused.startsWith("HTTP/1.1 413"), refused);
        assertTrue((System.nanoTime() - started) / 1e9 < 5);
    }

    @Test
    void aChunkedBodyIsCutOnceItPassesTheCap() throws Exception {
        String chunk = "200\r\n" + "y".repeat(0x200) + "\r\n";
        String refused = exchange("POST /predict HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
                (chunk.repeat(64) + "0\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
        assertTrue(refused.startsWith("HTTP/1.1 413"), refused);
        assertTrue(refused.contains("the body exceeds the limit of 1000 bytes"), refused);
    }

    @Test
    void theCapComesFromTheEnvironment() {
        assertEquals(RestServer.DEFAULT_MAX_BODY_BYTES, RestServer.maxBodyFromEnv(null));
        assertEquals(RestServer.DEFAULT_MAX_BODY_BYTES, RestServer.maxBodyFromEnv(" "));
        assertEquals(4096, RestServer.maxBodyFromEnv("4096"));
        for (String bad : new String[] {"0", "-1", "lots"}) {
            IllegalArgumentException err = assertThrows(IllegalArgumentException.class, () -> RestServer.maxBodyFromEnv(bad));
            assertEquals("WHARF_MAX_BODY_BYTES='" + bad + "': expected a whole number above 0", err.getMessage());
        }
    }
}
