"""The SeldonDeployment spec and status as one OpenAPI v3 model: the single source of the CRD schema.

Everything here is plain data. ``spec_schema()``/``status_schema()`` give the structural schema the
API server stores; the CEL ``x-kubernetes-validations`` carry the rules upstream checks in its
validating webhook, so a server rejects a bad SeldonDeployment with no webhook running.

Why the bounds (``maxItems``) exist: the API server estimates the worst-case cost of every CEL rule
from the sizes the schema allows and refuses a CRD whose rules could cost too much. Lists walked by
a rule therefore carry a generous ``maxItems``; upstream had none, but no real SeldonDeployment
comes near them. PodSpecs stay mostly schemaless (``x-kubernetes-preserve-unknown-fields``): the
Deployment the operator writes is validated by the server anyway, and a full PodSpec expansion is
what makes upstream's CRD too large for client-side apply.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

PROTOCOLS = ("seldon", "tensorflow", "kfserving", "v2")
TRANSPORTS = ("rest", "grpc")
SERVER_TYPES = ("rpc", "kafka")
NODE_TYPES = ("UNKNOWN_TYPE", "ROUTER", "COMBINER", "MODEL", "TRANSFORMER", "OUTPUT_TRANSFORMER")
METHODS = ("TRANSFORM_INPUT", "TRANSFORM_OUTPUT", "ROUTE", "AGGREGATE", "SEND_FEEDBACK")
BUILTIN_IMPLEMENTATIONS = (
    "UNKNOWN_IMPLEMENTATION",
    "SIMPLE_MODEL",
    "SIMPLE_ROUTER",
    "RANDOM_ABTEST",
    "AVERAGE_COMBINER",
)
PARAMETER_TYPES = ("INT", "FLOAT", "DOUBLE", "STRING", "BOOL")
ENDPOINT_TYPES = ("REST", "GRPC")
LOGGER_MODES = ("all", "request", "response")
EXPLAINER_TYPES = (
    "AnchorTabular",
    "AnchorImages",
    "AnchorText",
    "Counterfactuals",
    "Contrastive",
    "KernelShap",
    "IntegratedGradients",
    "ALE",
    "TreeShap",
)
STATES = ("Creating", "Available", "Failed")
KAFKA_ENV = ("KAFKA_BROKER", "KAFKA_INPUT_TOPIC", "KAFKA_OUTPUT_TOPIC")

# Upstream expands graph.children to this many levels (a schema cannot recurse).
GRAPH_LEVELS = 10
# Bounds that keep the CEL cost estimate under the API server's limits (see module docstring).
MAX_PREDICTORS = 8
MAX_COMPONENT_SPECS = 8
MAX_CONTAINERS = 16
MAX_CHILDREN = 8
MAX_ENV = 128
MAX_NAME = 253
MAX_DNS_LABEL = 63  # container names are DNS labels; graph node names must equal them
# The server runs the graph rules on the root and this many levels of children below it; the
# operator checks every level (its Failed status names the node). Deeper CEL would multiply the
# estimated cost by MAX_CHILDREN per level, past what the API server accepts.
CEL_GRAPH_DEPTH = 2


def string(enum: tuple[str, ...] | None = None, max_length: int | None = None, **extra: Any) -> Schema:
    out: Schema = {"type": "string", **extra}
    if enum:
        out["enum"] = list(enum)
    if max_length:
        out["maxLength"] = max_length
    return out


def int32(**extra: Any) -> Schema:
    return {"type": "integer", "format": "int32", **extra}


def boolean() -> Schema:
    return {"type": "boolean"}


def string_map() -> Schema:
    return {"type": "object", "additionalProperties": {"type": "string"}}


def array(items: Schema, max_items: int | None = None) -> Schema:
    out: Schema = {"type": "array", "items": items}
    if max_items:
        out["maxItems"] = max_items
    return out


def obj(
    properties: dict[str, Schema] | None = None,
    required: tuple[str, ...] = (),
    rules: list[Schema] | None = None,
    open_ended: bool = False,
    description: str | None = None,
) -> Schema:
    out: Schema = {"type": "object"}
    if description:
        out["description"] = description
    if properties:
        out["properties"] = properties
    if required:
        out["required"] = list(required)
    if open_ended:
        out["x-kubernetes-preserve-unknown-fields"] = True
    if rules:
        out["x-kubernetes-validations"] = rules
    return out


def free_object(description: str | None = None) -> Schema:
    """Any object (a Kubernetes type we pass through unchanged)."""
    return obj(open_ended=True, description=description)


def int_or_string() -> Schema:
    return {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]}


def rule(expression: str, message: str, field_path: str | None = None, reason: str | None = None) -> Schema:
    out: Schema = {"rule": expression, "message": message}
    if field_path:
        out["fieldPath"] = field_path
    if reason:
        out["reason"] = reason
    return out


# --- graph ----------------------------------------------------------------------------------------


def _has_implementation(var: str) -> str:
    return f"(has({var}.implementation) && {var}.implementation != 'UNKNOWN_IMPLEMENTATION')"


def _prepackaged(var: str) -> str:
    builtin = ", ".join(f"'{i}'" for i in BUILTIN_IMPLEMENTATIONS)
    return f"(has({var}.implementation) && !({var}.implementation in [{builtin}]))"


NODE_RULES = [
    rule(
        "!(has(self.type) && self.type == 'UNKNOWN_TYPE') || (has(self.methods) && size(self.methods) > 0)"
        f" || {_has_implementation('self')}",
        "a node with type UNKNOWN_TYPE needs a non-empty methods list (or an implementation)",
        ".type",
    ),
    rule(
        f"!{_prepackaged('self')} || self.implementation == 'HUGGINGFACE_SERVER'"
        " || (has(self.modelUri) && size(self.modelUri) > 0)",
        "a prepackaged server implementation needs modelUri",
        ".modelUri",
    ),
]


def graph_node(level: int = 0) -> Schema:
    """A PredictiveUnit; ``children`` nests until GRAPH_LEVELS, then stops (as upstream)."""
    properties: dict[str, Schema] = {
        "name": string(max_length=MAX_DNS_LABEL),
        "type": string(NODE_TYPES),
        # Builtins or any prepackaged server key (SKLEARN_SERVER, ...): not an enum upstream either.
        "implementation": string(max_length=MAX_DNS_LABEL),
        "methods": array(string(METHODS), max_items=len(METHODS)),
        "endpoint": endpoint(),
        "parameters": array(
            obj(
                {"name": string(), "value": string(), "type": string(PARAMETER_TYPES)},
                required=("name", "value", "type"),
            )
        ),
        "modelUri": string(),
        "serviceAccountName": string(),
        "envSecretRefName": string(),
        "storageInitializerImage": string(),
        "logger": obj({"url": string(), "mode": string(LOGGER_MODES)}, required=("mode",)),
    }
    if level < GRAPH_LEVELS:
        properties["children"] = array(graph_node(level + 1), max_items=MAX_CHILDREN)
    return obj(properties, required=("name",), rules=NODE_RULES if level <= CEL_GRAPH_DEPTH else None)


def endpoint() -> Schema:
    return obj(
        {
            "service_host": string(),
            "service_port": int32(),
            "type": string(ENDPOINT_TYPES),
            "httpPort": int32(),
            "grpcPort": int32(),
        }
    )


def _container_exists(var: str) -> str:
    # has(k.image) only: comparing the (unbounded) image string would cost more than the budget allows.
    return (
        f"(has(self.componentSpecs) && self.componentSpecs.exists(cs, has(cs.spec) && has(cs.spec.containers)"
        f" && cs.spec.containers.exists(k, k.name == {var}.name && has(k.image))))"
    )


def _graph_names_rule(depth: int = CEL_GRAPH_DEPTH) -> str:
    """A CEL expression true when every node (to ``depth`` levels of children) without an
    implementation has a container of its name with an image. CEL has no recursion, so the levels are
    spelled out."""

    def check(var: str, left: int) -> str:
        expr = f"({_has_implementation(var)} || {_container_exists(var)})"
        if left > 0:
            child = f"n{depth - left + 1}"
            expr += f" && (!has({var}.children) || {var}.children.all({child}, {check(child, left - 1)}))"
        return f"({expr})"

    return check("self.graph", depth)


# --- pods -----------------------------------------------------------------------------------------


def container() -> Schema:
    """The fields the operator reads are typed (CEL needs ``name``); the rest passes through."""
    return obj(
        {
            "name": string(max_length=MAX_DNS_LABEL),
            "image": string(),
            "ports": array(obj({"name": string(), "containerPort": int32(), "protocol": string()}, open_ended=True)),
            "env": array(obj({"name": string()}, required=("name",), open_ended=True)),
        },
        required=("name",),
        open_ended=True,
    )


def pod_spec() -> Schema:
    return obj({"containers": array(container(), max_items=MAX_CONTAINERS)}, open_ended=True)


def object_meta() -> Schema:
    return obj(
        {"name": string(max_length=MAX_NAME), "labels": string_map(), "annotations": string_map()}, open_ended=True
    )


def component_spec() -> Schema:
    return obj(
        {
            "metadata": object_meta(),
            "spec": pod_spec(),
            "replicas": int32(minimum=0),
            "hpaSpec": obj(
                {
                    "minReplicas": int32(minimum=1),
                    "maxReplicas": int32(minimum=1),
                    "metrics": array(free_object("autoscaling/v2beta1 MetricSpec")),
                    "metricsv2": array(free_object("autoscaling/v2 MetricSpec")),
                },
                required=("maxReplicas",),
            ),
            "kedaSpec": obj(
                {
                    "pollingInterval": int32(),
                    "cooldownPeriod": int32(),
                    "minReplicaCount": int32(),
                    "maxReplicaCount": int32(),
                    "idleReplicaCount": int32(),
                    "advanced": free_object(),
                    "triggers": array(free_object()),
                    "fallback": free_object(),
                },
                required=("triggers",),
            ),
            "pdbSpec": obj(
                {"minAvailable": int_or_string(), "maxUnavailable": int_or_string()},
                rules=[
                    rule(
                        "!(has(self.minAvailable) && has(self.maxUnavailable))",
                        "pdbSpec: minAvailable and maxUnavailable are mutually exclusive",
                    )
                ],
            ),
        }
    )


def resources() -> Schema:
    return free_object("core/v1 ResourceRequirements")


def explainer() -> Schema:
    return obj(
        {
            "type": string(EXPLAINER_TYPES),
            "modelUri": string(),
            "serviceAccountName": string(),
            "containerSpec": free_object("core/v1 Container"),
            "config": string_map(),
            "endpoint": endpoint(),
            "envSecretRefName": string(),
            "storageInitializerImage": string(),
            "replicas": int32(minimum=0),
            "initParameters": string(),
        }
    )


NO_ENGINE = "seldon.io/no-engine"


def predictor() -> Schema:
    return obj(
        {
            "name": string(max_length=MAX_NAME),
            "graph": graph_node(),
            "componentSpecs": array(component_spec(), max_items=MAX_COMPONENT_SPECS),
            "replicas": int32(minimum=0),
            "annotations": string_map(),
            "labels": string_map(),
            "traffic": int32(minimum=0, maximum=100),
            "shadow": boolean(),
            "engineResources": resources(),
            "svcOrchSpec": obj(
                {
                    "resources": resources(),
                    "env": array(
                        obj({"name": string(max_length=MAX_NAME)}, required=("name",), open_ended=True),
                        max_items=MAX_ENV,
                    ),
                    "replicas": int32(minimum=0),
                }
            ),
            "explainer": explainer(),
            "ssl": obj({"certSecretName": string()}),
            "progressDeadlineSeconds": int32(minimum=1),
        },
        required=("name", "graph"),
        rules=[
            rule(
                _graph_names_rule(),
                "every graph node without an implementation needs a container of the same name with an image "
                "in componentSpecs[].spec.containers",
                ".graph",
            ),
            rule(
                f"!(has(self.annotations) && '{NO_ENGINE}' in self.annotations"
                f" && self.annotations['{NO_ENGINE}'] == 'true') || !has(self.graph.children)"
                " || size(self.graph.children) == 0",
                f"{NO_ENGINE}: only allowed for a single-node graph",
                ".annotations",
            ),
        ],
    )


def _non_shadow(var: str) -> str:
    return f"!(has({var}.shadow) && {var}.shadow)"


def _traffic(var: str) -> str:
    return f"(has({var}.traffic) ? {var}.traffic : 0)"


SPEC_RULES = [
    rule(
        "self.predictors.all(p, self.predictors.exists_one(q, q.name == p.name))",
        "predictor names must be unique",
        ".predictors",
    ),
    rule(
        f"self.predictors.filter(p, {_non_shadow('p')}).size() <= 1"
        f" || self.predictors.filter(p, {_non_shadow('p')}).map(p, {_traffic('p')}).sum() == 100",
        "traffic of the non-shadow predictors must sum to 100",
        ".predictors",
    ),
    rule(
        f"self.predictors.size() != 1 || {_traffic('self.predictors[0]')} == 0"
        f" || {_traffic('self.predictors[0]')} == 100",
        "a single predictor's traffic, when set, must be 100",
        ".predictors",
    ),
    rule(
        "self.predictors.filter(p, has(p.shadow) && p.shadow).size() <= 1",
        "at most one predictor may be a shadow",
        ".predictors",
    ),
    rule(
        "self.predictors.exists(p, !(has(p.shadow) && p.shadow))",
        "a shadow predictor cannot be the only predictor",
        ".predictors",
    ),
    rule(
        "!has(self.serverType) || self.serverType != 'kafka' || self.predictors.all(p, has(p.svcOrchSpec)"
        " && has(p.svcOrchSpec.env) && " + "[" + ", ".join(f"'{k}'" for k in KAFKA_ENV) + "]"
        ".all(k, p.svcOrchSpec.env.exists(e, e.name == k)))",
        "serverType kafka needs KAFKA_BROKER, KAFKA_INPUT_TOPIC and KAFKA_OUTPUT_TOPIC in every "
        "predictor's svcOrchSpec.env",
        ".serverType",
    ),
]


def spec_schema() -> Schema:
    return obj(
        {
            "name": string(description="deprecated"),
            "annotations": string_map(),
            "protocol": string(PROTOCOLS),
            "transport": string(TRANSPORTS),
            "serverType": string(SERVER_TYPES),
            "replicas": int32(minimum=0),
            "oauth_key": string(),
            "oauth_secret": string(),
            "predictors": array(predictor(), max_items=MAX_PREDICTORS) | {"minItems": 1},
        },
        required=("predictors",),
        rules=SPEC_RULES,
    )


def status_schema() -> Schema:
    return obj(
        {
            "state": string(STATES),
            "description": string(),
            "deploymentStatus": {
                "type": "object",
                "additionalProperties": obj(
                    {
                        "name": string(),
                        "status": string(),
                        "description": string(),
                        "replicas": int32(),
                        "availableReplicas": int32(),
                        "explainerFor": string(),
                    }
                ),
            },
            "serviceStatus": {
                "type": "object",
                "additionalProperties": obj(
                    {"svcName": string(), "httpEndpoint": string(), "grpcEndpoint": string(), "explainerFor": string()}
                ),
            },
            "replicas": int32(),
            "address": obj({"url": string()}),
            "conditions": array(
                obj(
                    {
                        "type": string(),
                        "status": string(),
                        "reason": string(),
                        "message": string(),
                        "lastTransitionTime": string(),
                        "severity": string(),
                    },
                    required=("type", "status"),
                )
            ),
            "observedGeneration": {"type": "integer", "format": "int64"},
        }
    )


def sdep_schema() -> Schema:
    return obj(
        {
            "apiVersion": string(),
            "kind": string(),
            "metadata": {"type": "object"},
            "spec": spec_schema(),
            "status": status_schema(),
        }
    )
