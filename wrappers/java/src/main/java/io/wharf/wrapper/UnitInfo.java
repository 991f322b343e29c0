package io.wharf.wrapper;

import java.util.Map;

/** Who this component is in the graph, from the PREDICTIVE_UNIT_* environment. */
public record UnitInfo(String unitId, String image, boolean includeMetricsInResponse, boolean executorEnabled,
                       String metadataEnv) {
    public static final String UNSET_IMAGE = "NOT_IMPLEMENTED:NOT_IMPLEMENTED";

    public static UnitInfo defaults() {
        return new UnitInfo(null, UNSET_IMAGE, true, true, null);
    }

    public static UnitInfo fromEnv(Map<String, String> env) {
        String id = env.get("PREDICTIVE_UNIT_ID");
        return new UnitInfo(id == null || id.isEmpty() ? null : id,
                env.getOrDefault("PREDICTIVE_UNIT_IMAGE", UNSET_IMAGE),
                env.getOrDefault("INCLUDE_METRICS_IN_CLIENT_RESPONSE", "true").equalsIgnoreCase("true"),
                !env.getOrDefault("SELDON_EXECUTOR_ENABLED", "true").equalsIgnoreCase("false"),
                env.get("MODEL_METADATA"));
    }
}
