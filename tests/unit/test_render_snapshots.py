"""render() over every SeldonDeployment in the repository, under a few operator settings, byte for byte.

The snapshots in tests/data/render-snapshots/ were written once by the render code as it was before
``render()`` was split into one builder per object kind (see the README there for the commit); any
change to what render() emits, or to the error it raises, fails here. They are an independent check
on a refactor: nothing in them is derived from the code under test at the time the test runs.

- ``index.json``: for each (document, variant) the sha256 of the output as canonical JSON (sorted
  keys, no spaces), or the error message when render() refuses the document.
- ``<case>.yaml``: a few outputs in full, chosen to hold every object kind and branch render() has
  (predictor and orchestrator Deployments, Services, HPA, PDB, Istio VirtualService and
  DestinationRules, Ambassador Mappings, TF Serving, storage initializer), readable in review.

Regenerate (only when a change in behaviour is intended, then review the diff) with
``WHARF_UPDATE_RENDER_SNAPSHOTS=1``.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

import wharf
from wharf.deployment.servers import PREDICTOR_SERVERS
from wharf.deployment.validate import SdepError
from wharf.operator.config import OperatorConfig
from wharf.operator.render import render

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOTS = ROOT / "tests" / "data" / "render-snapshots"
UPDATE = os.environ.get("WHARF_UPDATE_RENDER_SNAPSHOTS") == "1"

# Every folder holding SeldonDeployments: upstream's examples and test resources, the render
# fixtures, Wharf's own examples and test data.
CORPORA = ("tests/fixtures/upstream-sdeps", "tests/fixtures/upstream-prepackaged", "tests/fixtures/render",
           "examples", "tests/data")  # fmt: skip


def _parse(text: str) -> list[Any]:
    try:
        return list(yaml.safe_load_all(text))
    except yaml.YAMLError:
        return [json.loads(text, strict=False)]  # JSON indented with tabs, which YAML refuses


def documents() -> dict[str, dict[str, Any]]:
    """``<path>#<n>`` -> the n-th SeldonDeployment of that file, over every corpus."""
    out: dict[str, dict[str, Any]] = {}
    for corpus in CORPORA:
        for path in sorted((ROOT / corpus).rglob("*")):
            if path.suffix not in (".yaml", ".yml", ".json") or path.name.endswith(".schema.json"):
                continue
            try:
                docs = _parse(path.read_text())
            except ValueError:
                continue  # not a manifest (a JSON payload, a Helm template)
            sdeps = [d for d in docs if isinstance(d, dict) and d.get("kind") == "SeldonDeployment"]
            for i, doc in enumerate(sdeps):
                out[f"{path.relative_to(ROOT)}#{i}"] = doc
    return out


# Fixed image tags, so that a version bump does not change the snapshots.
SERVERS = {
    key: {protocol: image.replace(f":{wharf.__version__}", ":snapshot") for protocol, image in images.items()}
    for key, images in PREDICTOR_SERVERS.items()
}
BASE = {
    "executor_image": "wharf/orchestrator:snapshot",
    "storage_initializer_image": "wharf/storage-initializer:snapshot",
    "predictor_servers": SERVERS,
}
# Annotations that steer render() and that few corpus documents set.
OPTIONS = {
    "seldon.io/headless-svc": "true",
    "seldon.io/istio-retries": "2",
    "seldon.io/istio-retries-timeout": "3",
    "seldon.io/istio-host": "a.example, b.example",
    "seldon.io/istio-gateway": "ns/gw",
    "seldon.io/rest-timeout": "5000",
    "seldon.io/grpc-timeout": "6000",
    "seldon.io/executor-logger-queue-size": "77",
    "seldon.io/executor-logger-write-timeout-ms": "88",
    "seldon.io/engine-log-level": "debug",
}
OWNED = {"uid": "6f1c2b1e-0000-4000-8000-000000000001"}  # as a SeldonDeployment read from a cluster
# variant -> (operator settings, annotations added to spec.annotations, fields added to metadata)
VARIANTS: dict[str, tuple[dict[str, Any], dict[str, str], dict[str, str]]] = {
    "default": ({}, {}, {}),
    "ingress": (
        {
            "istio_enabled": True,
            "ambassador_enabled": True,
            "ambassador_single_namespace": True,
            "executor_service_account": "orchestrator",
        },
        {},
        OWNED,
    ),
    "separate-engine": (
        {
            "istio_enabled": True,
            "istio_tls_mode": "ISTIO_MUTUAL",
            "ambassador_enabled": True,
            "deployment_name_as_prefix": True,
            "executor_service_account": "orchestrator",
            "executor_user": "",
            "default_user_id": "",
            "executor_command": (),
            "executor_full_health_checks": True,
            "unit_default_env_secret": "model-secrets",
        },
        {"seldon.io/engine-separate-pod": "true", **OPTIONS},
        {},
    ),
}
# The outputs kept in full: (document, variant) -> file name.
READABLE = {
    ("tests/fixtures/render/hpa-pdb/sdep.yaml#0", "ingress"): "hpa-pdb.yaml",
    ("tests/fixtures/render/istio-canary-shadow/sdep.yaml#0", "ingress"): "istio-canary-shadow.yaml",
    ("tests/fixtures/render/abtest-two-pods/sdep.yaml#0", "separate-engine"): "abtest-separate-engine.yaml",
    ("tests/fixtures/render/no-engine/sdep.yaml#0", "separate-engine"): "no-engine-options.yaml",
    (
        "tests/fixtures/upstream-prepackaged/doc__source__servers__tensorflow-2.yaml#0",
        "default",
    ): "tfserving-proxy.yaml",
    ("tests/data/render-snapshots/branches.yaml#0", "ingress"): "branches-owned-ingress.yaml",
}


def rendered(doc: dict[str, Any], variant: str) -> list[dict[str, Any]] | str:
    settings, annotations, metadata = VARIANTS[variant]
    sdep = copy.deepcopy(doc)
    sdep["metadata"] = {**(sdep.get("metadata") or {}), **metadata}
    if annotations:
        spec = sdep.setdefault("spec", {})
        spec["annotations"] = {**(spec.get("annotations") or {}), **annotations}
    try:
        return render(sdep, OperatorConfig(**{**BASE, **settings}))
    except SdepError as exc:
        return f"SdepError: {exc}"


def digest(out: list[dict[str, Any]] | str) -> str:
    if isinstance(out, str):
        return out
    canonical = json.dumps(out, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


DOCUMENTS = documents()


@functools.cache
def outputs() -> dict[tuple[str, str], list[dict[str, Any]] | str]:
    return {(key, variant): rendered(doc, variant) for key, doc in DOCUMENTS.items() for variant in VARIANTS}


def test_every_document_and_variant_renders_as_before() -> None:
    got = {f"{key} {variant}": digest(out) for (key, variant), out in outputs().items()}
    index = SNAPSHOTS / "index.json"
    if UPDATE:
        index.write_text(json.dumps(got, indent=0, sort_keys=True) + "\n")
    expected = json.loads(index.read_text())
    assert sorted(got) == sorted(expected), "the corpus changed: regenerate the index and review it"
    changed = [key for key in expected if got[key] != expected[key]]
    assert not changed, f"{len(changed)} outputs differ from the snapshot, e.g. {changed[:5]}"


@pytest.mark.parametrize(("key", "variant"), sorted(READABLE))
def test_readable_snapshot(key: str, variant: str) -> None:
    out = outputs()[(key, variant)]
    assert not isinstance(out, str), out
    text = yaml.safe_dump_all(out, sort_keys=True, explicit_start=True)
    path = SNAPSHOTS / READABLE[(key, variant)]
    if UPDATE:
        path.write_text(f"# render({key}) with the {variant!r} variant of test_render_snapshots.py\n" + text)
    assert text == path.read_text().split("\n", 1)[1]


def test_snapshots_cover_every_object_kind_and_branch() -> None:
    """The corpus under these variants reaches what render() can emit: each kind, each engine layout,
    errors; so an unchanged index means those paths are unchanged."""
    kinds: set[str] = set()
    errors = 0
    layouts = set()
    for out in outputs().values():
        if isinstance(out, str):
            errors += 1
            continue
        kinds |= {o["kind"] for o in out}
        for o in out:
            if o["kind"] == "Deployment":
                names = {c["name"] for c in o["spec"]["template"]["spec"]["containers"]}
                layouts.add("engine-alone" if names == {"seldon-container-engine"} else
                            "engine-beside" if "seldon-container-engine" in names else "no-engine")  # fmt: skip
    assert kinds == {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "VirtualService",
        "DestinationRule",
    }
    assert layouts == {"engine-alone", "engine-beside", "no-engine"}
    assert errors > 0
