package io.wharf.wrapper;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/** {@code PREDICTIVE_UNIT_PARAMETERS}: a JSON list of {name, value, type} with the five upstream types. */
public final class Parameters {
    private static final Set<String> TRUE = Set.of("y", "yes", "t", "true", "on", "1");
    private static final Set<String> FALSE = Set.of("n", "no", "f", "false", "off", "0");

    private Parameters() {}

    public static Map<String, Object> parse(String raw) {
        Map<String, Object> out = new LinkedHashMap<>();
        if (raw == null || raw.isBlank()) {
            return out;
        }
        JsonNode list;
        try {
            list = Json.MAPPER.readTree(raw);
        } catch (Exception exc) {
            throw bad("PREDICTIVE_UNIT_PARAMETERS is not valid JSON: " + exc.getMessage());
        }
        if (!list.isArray()) {
            throw bad("PREDICTIVE_UNIT_PARAMETERS: expected a JSON list of {name, value, type}");
        }
        for (JsonNode p : list) {
            String name = p.path("name").asText(null);
            String type = p.path("type").asText("STRING");
            String value = p.path("value").asText();
            if (name == null) {
                throw bad("PREDICTIVE_UNIT_PARAMETERS: every parameter needs a name, got " + p);
            }
            try {
                out.put(name, switch (type) {
                    case "INT" -> Integer.parseInt(value.trim());
                    case "FLOAT", "DOUBLE" -> Double.parseDouble(value.trim());
                    case "STRING" -> value;
                    case "BOOL" -> bool(value);
                    default -> throw bad("Bad model parameter type: " + type + " valid are INT, FLOAT, DOUBLE, STRING, BOOL");
                });
            } catch (NumberFormatException exc) {
                throw bad("Bad model parameter: " + name + " with value " + value + " can't be parsed as a " + type);
            }
        }
        return out;
    }

    private static boolean bool(String value) {
        String v = value.trim().toLowerCase(Locale.ROOT);
        if (TRUE.contains(v)) {
            return true;
        }
        if (FALSE.contains(v)) {
            return false;
        }
        throw new NumberFormatException(value);
    }

    private static MicroserviceException bad(String message) {
        return new MicroserviceException(message, 400, MicroserviceException.BAD_PARAMETER);
    }
}
