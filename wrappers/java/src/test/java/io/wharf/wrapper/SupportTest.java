package io.wharf.wrapper;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SupportTest {
    @Test
    void parametersHaveUpstreamTypes() {
        Map<String, Object> p = Parameters.parse("[{\"name\":\"n\",\"value\":\"3\",\"type\":\"INT\"},"
                + "{\"name\":\"f\",\"value\":\"0.5\",\"type\":\"FLOAT\"},{\"name\":\"b\",\"value\":\"yes\",\"type\":\"BOOL\"},"
                + "{\"name\":\"s\",\"value\":\"x\",\"type\":\"STRING\"}]");
        assertEquals(Map.of("n", 3, "f", 0.5, "b", true, "s", "x"), p);
        MicroserviceException bad = assertThrows(MicroserviceException.class,
                () -> Parameters.parse("[{\"name\":\"j\",\"value\":\"{}\",\"type\":\"JSON\"}]"));
        assertEquals(MicroserviceException.BAD_PARAMETER, bad.reason());
        MicroserviceException unparsable = assertThrows(MicroserviceException.class,
                () -> Parameters.parse("[{\"name\":\"n\",\"value\":\"x\",\"type\":\"INT\"}]"));
        assertEquals("Bad model parameter: n with value x can't be parsed as a INT", unparsable.getMessage());
    }

    @Test
    void metadataDefaultsComeFromTheImageAndEnvWins() {
        SeldonComponent user = new SeldonComponent() {
            @Override
            public Map<String, Object> metadata() {
                return Map.of("platform", "java", "custom", Map.of("k", "v"));
            }
        };
        Metadata.Result r = Metadata.build("reg:5000/team/model:1.2", user, "platform: override\n");
        assertNotNull(r.document());
        assertEquals("reg:5000/team/model", r.document().get("name").asText());
        assertEquals("1.2", r.document().get("versions").get(0).asText());
        assertEquals("override", r.document().get("platform").asText());
        assertEquals("v", r.document().get("custom").get("k").asText());
    }

    @Test
    void invalidMetadataIsRefusedWithTheField() {
        SeldonComponent user = new SeldonComponent() {
            @Override
            public Map<String, Object> metadata() {
                return Map.of("inputs", List.of(Map.of("messagetype", "strData", "schema", Map.of())), "extra", 1);
            }
        };
        Metadata.Result r = Metadata.build("", user, null);
        assertNull(r.document());
        assertTrue(r.error().contains("'extra'"), r.error());
        assertTrue(r.error().contains("inputs/0"), r.error());
    }

    @Test
    void prometheusScrapeHasCustomMetricsWithIdentityLabels() throws Exception {
        PrometheusSink sink = new PrometheusSink(Map.of("PREDICTIVE_UNIT_ID", "clf", "PREDICTIVE_UNIT_IMAGE", "img:3"));
        sink.record("predict", List.of(Metric.counter("my_count", 2), Metric.gauge("my_gauge", 7).withTags(Map.of("k", "v")),
                Metric.timer("my_timer", 20)));
        sink.feedback(0.5f);
        String text = new String(sink.scrape(), java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(text.contains("my_count_total{"), text);
        assertTrue(text.contains("model_name=\"clf\""), text);
        assertTrue(text.contains("model_version=\"3\""), text);
        assertTrue(text.matches("(?s).*my_gauge\\{[^}]*k=\"v\"[^}]*} 7.0.*"), text);
        assertTrue(text.contains("my_timer_sum{"), text);
        assertTrue(text.contains("seldon_api_model_feedback_reward_total{"), text);
    }

    @Test
    void unknownClassesAndNonComponentsFailToLoad() {
        assertThrows(ClassNotFoundException.class, () -> Main.instantiate("no.such.Model", Map.of()));
        assertThrows(ClassCastException.class, () -> Main.instantiate("java.lang.String", Map.of()));
    }
}
