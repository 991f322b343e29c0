"""Every SeldonDeployment in upstream's own examples and test resources: what upstream accepts
renders, what it refuses Wharf refuses too, with a message naming the field.

The corpus is tests/fixtures/upstream-sdeps (collected by its collect.py, each file's origin in its
SOURCES) plus tests/fixtures/upstream-prepackaged. Whether upstream accepts a document is decided
here, independently of Wharf's code: by upstream's own CRD schema at v1.17.1
(upstream-crd-v1.schema.json, descriptions removed) as the API server applies it (nulls pruned,
unknown fields refused as kubectl's strict field validation does), then by the rules of upstream's
validating webhook, transcribed below from operator/apis/machinelearning.seldon.io/v1/
seldondeployment_webhook.go.
"""

from __future__ import annotations

import collections
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from wharf.deployment.validate import SdepError
from wharf.operator.render import render

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CORPUS = FIXTURES / "upstream-sdeps"
FILES = sorted(
    p
    for p in [*CORPUS.glob("*.yaml"), *CORPUS.glob("*.json"), *(FIXTURES / "upstream-prepackaged").glob("*.yaml")]
    if p.name != "upstream-crd-v1.schema.json"
)

# The prepackaged servers upstream's default seldon-config names (predictor_servers).
UPSTREAM_SERVERS = {
    "SKLEARN_SERVER",
    "XGBOOST_SERVER",
    "TENSORFLOW_SERVER",
    "MLFLOW_SERVER",
    "TRITON_SERVER",
    "HUGGINGFACE_SERVER",
    "TEMPO_SERVER",
}
BUILTINS = {"UNKNOWN_IMPLEMENTATION", "SIMPLE_MODEL", "SIMPLE_ROUTER", "RANDOM_ABTEST", "AVERAGE_COMBINER"}


def parse(text: str) -> list[Any]:
    try:
        return list(yaml.safe_load_all(text))
    except yaml.YAMLError:
        return [json.loads(text, strict=False)]  # JSON indented with tabs, which YAML refuses


def documents() -> list[tuple[str, int, dict]]:
    out = []
    for path in FILES:
        docs = [d for d in parse(path.read_text()) if isinstance(d, dict) and d.get("kind") == "SeldonDeployment"]
        out += [(path.name, i, d) for i, d in enumerate(docs)]
    return out


DOCUMENTS = documents()


# --- upstream's verdict ---------------------------------------------------------------------------


def pruned(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: pruned(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [pruned(v) for v in value]
    return value


@lru_cache(maxsize=1)
def crd_validator() -> jsonschema.Draft7Validator:
    schema = json.loads((CORPUS / "upstream-crd-v1.schema.json").read_text())

    def strict(s: Any) -> None:
        if isinstance(s, dict):
            if s.get("x-kubernetes-int-or-string"):
                s["type"] = ["integer", "string"]
            if (
                s.get("type") == "object"
                and "properties" in s
                and "additionalProperties" not in s
                and not s.get("x-kubernetes-preserve-unknown-fields")
            ):
                s["additionalProperties"] = False
            if s.get("format") in ("int32", "int64", "date-time"):
                del s["format"]
            for v in s.values():
                strict(v)
        elif isinstance(s, list):
            for v in s:
                strict(v)

    strict(schema)
    schema["properties"]["metadata"] = {"type": "object"}  # ObjectMeta has its own checks
    return jsonschema.Draft7Validator(schema)


def _units(pu: dict, path: str):
    yield pu, path
    for i, child in enumerate(pu.get("children") or []):
        yield from _units(child, f"{path}.children[{i}]")


def webhook(spec: dict) -> list[str]:
    """ValidateSeldonDeployment, rule by rule: (field path, upstream's reason) of each refusal."""
    out = []
    if spec.get("protocol", "") not in ("", "seldon", "tensorflow", "kfserving", "v2"):
        out.append("spec.protocol: Invalid protocol")
    if spec.get("transport", "") not in ("", "rest", "grpc"):
        out.append("spec.transport: Invalid transport")
    if spec.get("serverType", "") not in ("", "rpc", "kafka"):
        out.append("spec.serverType: Invalid serverType")
    predictors = spec.get("predictors") or []
    for i, p in enumerate(predictors):
        if spec.get("serverType") == "kafka":
            names = [e.get("name") for e in (p.get("svcOrchSpec") or {}).get("env") or []]
            if sum(n in ("KAFKA_BROKER", "KAFKA_INPUT_TOPIC", "KAFKA_OUTPUT_TOPIC") for n in names) < 3:
                out.append(f"spec.predictors[{i}]: For kafka please supply svcOrchSpec envs")
    if len(predictors) == 1 and predictors[0].get("shadow"):
        out.append("spec.predictors[0]: Shadow can not exist as only predictor")
    svc_names = [(p.get("annotations") or {}).get("seldon.io/svc-name") for p in predictors]
    for i, name in enumerate(svc_names):
        if name is not None and name in svc_names[:i]:
            out.append(f"spec.predictors[{i}]: Found duplicate service name")
    if not predictors:
        out.append("spec: Graph contains no predictors")
    transports, seen = set(), set()
    for i, p in enumerate(predictors):
        units = list(_units(p.get("graph") or {}, f"spec.predictors[{i}].graph"))
        transports |= {u["endpoint"]["type"] for u, _ in units if (u.get("endpoint") or {}).get("type")}
        if "seldon.io/no-engine" in (p.get("annotations") or {}) and len(units) > 1:
            out.append(f"spec.predictors[{i}]: Running without engine only valid for single element graphs")
        if p.get("name") in seen:
            out.append(f"spec.predictors[{i}]: Duplicate predictor name")
        seen.add(p.get("name"))
        containers = {
            c.get("name"): c
            for cs in p.get("componentSpecs") or []
            for c in (cs.get("spec") or {}).get("containers") or []
        }
        for pu, path in units:
            implementation = pu.get("implementation") or "UNKNOWN_IMPLEMENTATION"
            if implementation == "UNKNOWN_IMPLEMENTATION":
                if pu.get("name") not in containers:
                    out.append(f"{path}: Can't find container for Predictive Unit")
                if pu.get("type") == "UNKNOWN_TYPE" and not pu.get("methods"):
                    out.append(f"{path}: Predictive Unit has no implementation methods defined")
            elif implementation not in BUILTINS:
                if not pu.get("modelUri") and implementation != "HUGGINGFACE_SERVER":
                    out.append(f"{path}: Predictive unit modelUri required when using standalone servers")
                if spec.get("protocol") == "tensorflow" and implementation in (
                    "SKLEARN_SERVER",
                    "XGBOOST_SERVER",
                    "MLFLOW_SERVER",
                    "HUGGINGFACE_SERVER",
                ):
                    out.append(f"{path}: Prepackaged server does not handle tensorflow protocol")
                container = containers.get(pu.get("name"))
                if (container is None or not container.get("image")) and implementation not in UPSTREAM_SERVERS:
                    out.append(f"{path}: No entry in predictors map for {implementation}")
            if "logger" in pu and not (pu["logger"] or {}).get("mode"):
                out.append(f"{path}: No logger mode specified")
    if len(transports) > 1:
        out.append("spec: Multiple endpoint.types found")
    elif transports and spec.get("transport") and transports != {spec["transport"].upper()}:
        out.append("spec: Mixed transport types found")
    shadows = sum(bool(p.get("shadow")) for p in predictors)
    traffic = sum(int(p.get("traffic") or 0) for p in predictors if not p.get("shadow"))
    if shadows > 1:
        out.append("spec: Multiple shadows are not allowed")
    if traffic != 100 and len(predictors) - shadows > 1:
        out.append("spec: Traffic must sum to 100 for multiple predictors")
    if 0 < traffic < 100 and len(predictors) == 1:
        out.append("spec: Traffic must sum be 100 for a single predictor when set")
    return out


def upstream_refusals(sdep: dict) -> list[str]:
    """Why upstream refuses ``sdep`` ('path: reason' each); empty when it accepts it."""
    sdep = pruned(sdep)
    schema = [
        f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in crd_validator().iter_errors(sdep)
    ]
    # the API server checks the schema before it calls validating webhooks
    return schema or webhook(sdep.get("spec") or {})


def _field(reason: str) -> str:
    """The last named field of a refusal's path: ``spec.predictors.0.componentSpecs.0.spec`` -> ``spec``."""
    path = reason.split(": ", 1)[0]
    parts = [p for p in path.replace("[", ".").replace("]", "").split(".") if p and not p.isdigit()]
    return parts[-1] if parts else path


# Documents upstream accepts that Wharf refuses on purpose, each with its reason.
WHARF_REFUSES = {
    # Two graph nodes of one name (an executor sample run outside a cluster): Wharf's orchestrator and
    # its routing meta key nodes by name, so such a graph would be served wrongly.
    ("executor__samples__local__tfserving__README--block-13.yaml", 0): "appears twice in the graph",
    ("executor__samples__local__tfserving__README--block-27.yaml", 0): "appears twice in the graph",
    # 0.4-era explainer type, renamed to AnchorImages in 1.0; Wharf's CRD lists today's types.
    ("doc__source__reference__release-0.4.1--block-1.yaml", 0): "explainer.type: 'anchor_images' is not one of",
}


# --- the test -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,index,sdep", DOCUMENTS, ids=[f"{n}#{i}" for n, i, _ in DOCUMENTS])
def test_upstream_document_renders_or_is_refused_like_upstream(name: str, index: int, sdep: dict) -> None:
    sdep.setdefault("metadata", {}).setdefault("namespace", "models")
    refusals = upstream_refusals(sdep)
    if (name, index) in WHARF_REFUSES:
        assert not refusals
        with pytest.raises(SdepError, match=re.escape(WHARF_REFUSES[(name, index)])):
            render(sdep)
        return
    if not refusals:
        objects = render(sdep)
        assert any(o["kind"] == "Deployment" for o in objects)
        return
    with pytest.raises(SdepError) as caught:
        render(sdep)
    message = str(caught.value)
    assert any(_field(r) in message for r in refusals), (refusals, message)


def test_corpus_counts() -> None:
    """The corpus's figures (files, documents, upstream's verdicts), so that a change in them is seen."""
    verdicts = collections.Counter("refused" if upstream_refusals(sdep) else "accepted" for _, _, sdep in DOCUMENTS)
    assert (len(FILES), len(DOCUMENTS)) == (333, 334)
    assert verdicts == {"accepted": 308, "refused": 26}


def test_every_fixture_names_its_upstream_source() -> None:
    rows = [line.split("\t") for line in (CORPUS / "SOURCES").read_text().splitlines() if not line.startswith("#")]
    listed = {row[0] for row in rows}
    assert listed == {p.name for p in FILES if p.parent == CORPUS}
    assert all(row[1:3] == ["SeldonIO/seldon-core", "v1.17.1"] for row in rows)
