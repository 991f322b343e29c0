"""The model charts take upstream's own values files, and every resources entry takes Kubernetes quantities.

Each chart replacing a seldon-core 1.17 chart keeps that chart's real ``values.yaml`` as
``ci/upstream-values.yaml``, byte for byte, named in ``ci/SOURCES`` with its git blob id, and
lints and renders with it. Quantities may be strings (``cpu: "0.1"``, how most people write them)
or numbers (``cpu: 0.1``); both reach the rendered manifests as the quoted strings Kubernetes
itself writes. tests/charts/test_quantity_apiserver.py sends the same cases to a real API server.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess

import pytest
from chart_support import CHARTS, ROOT
from jsonschema import Draft7Validator
from quantity_cases import NOT_EXACT_IN_HELM, QUANTITIES, RENDER_CASES, RENDERED

from wharf.charts import quantity
from wharf.charts.ctconfig import load_config
from wharf.charts.lint import lint_chart
from wharf.charts.render import helm_template
from wharf.charts.values_check import check_values_file, merge_values
from wharf.charts.values_schema import load_yaml

# Wharf chart -> the seldon-core chart it replaces (helm-charts/<name> in SeldonIO/seldon-core).
REPLACES = {"wharf-model": "seldon-single-model", "wharf-abtest": "seldon-abtest", "wharf-mab": "seldon-mab"}
UPSTREAM_REPO, UPSTREAM_TAG = "SeldonIO/seldon-core", "v1.17.1"
UPSTREAM_BLOBS = {  # `git rev-parse v1.17.1:helm-charts/<chart>/values.yaml` in a clone of SeldonIO/seldon-core
    "wharf-model": "4d1b53e1c743b2760ab1b1804e447d67b2574b39",
    "wharf-abtest": "5c012b1a0e92ebbee9ae4bd659567cbdb8880579",
    "wharf-mab": "bac9982c88181d9f37c78a26a741ce05acdd1795",
}


def _blob_id(data: bytes) -> str:
    """git's object id of a file's bytes (what `git rev-parse <tag>:<path>` prints upstream)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


# --- upstream's files, unchanged ------------------------------------------------------------------


@pytest.mark.parametrize("chart", sorted(REPLACES))
def test_upstream_values_file_is_upstreams_own_named_in_sources(chart):
    ci = CHARTS / chart / "ci"
    lines = (ci / "SOURCES").read_text().splitlines()
    assert lines and not any(line.lstrip().startswith("#") for line in lines)
    entries = {fields[0]: fields[1:] for fields in (line.split() for line in lines)}
    assert entries == {
        "upstream-values.yaml": [
            UPSTREAM_REPO,
            UPSTREAM_TAG,
            f"helm-charts/{REPLACES[chart]}/values.yaml",
            UPSTREAM_BLOBS[chart],
        ]
    }
    # The blob id pins the bytes: any rewrite (even of whitespace) changes it.
    assert _blob_id((ci / "upstream-values.yaml").read_bytes()) == UPSTREAM_BLOBS[chart]


@pytest.mark.helm
@pytest.mark.parametrize("chart", sorted(REPLACES))
def test_ct_lint_passes_with_upstreams_values(helm, chart):
    """ct's steps (yamllint of ci files included: seldon-mab's has trailing spaces and `#comments`)."""
    config = load_config(ROOT, flags={"charts": f"charts/{chart}"}, environ={})
    result = lint_chart(ROOT, CHARTS / chart, None, config)
    assert result.failed is None, result.failed
    assert [s.step for s in result.steps][-3:] == ["helm-lint", "values-schema", "validate"]


@pytest.mark.helm
def test_upstream_single_model_defaults_render_like_upstreams_chart(helm):
    """Upstream's defaults set neither image nor implementation; its chart renders the model
    container without an image, and so does this one (the API server then refuses the
    SeldonDeployment, naming the graph: tests/charts/test_cluster.py REFUSED)."""
    sdep = helm_template(CHARTS / "wharf-model", [CHARTS / "wharf-model" / "ci" / "upstream-values.yaml"])[0].doc
    container = sdep["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["containers"][0]
    assert container["name"] == "model" and "image" not in container
    assert container["resources"]["requests"]["memory"] == "1Mi"


# --- wharf-mab: both image forms ------------------------------------------------------------------


@pytest.mark.helm
@pytest.mark.parametrize(
    "image",
    [
        "mab: {image: wharf/epsilon-router:0.1.0}",
        "mab: {image: {name: wharf/epsilon-router, version: 0.1.0}}",
    ],
)
def test_mab_router_image_either_form_renders_the_same_image_without_warnings(helm, tmp_path, image):
    mine = tmp_path / "mine.yaml"
    mine.write_text(image + "\n")
    cmd = [
        str(helm),
        "template",
        "r",
        str(CHARTS / "wharf-mab"),
        "-f",
        str(CHARTS / "wharf-mab" / "ci" / "default-values.yaml"),
        "-f",
        str(mine),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0 and "warning" not in done.stderr, done.stderr
    sdep = helm_template(CHARTS / "wharf-mab", [CHARTS / "wharf-mab" / "ci" / "default-values.yaml", mine])[0].doc
    router = sdep["spec"]["predictors"][0]["componentSpecs"][0]["spec"]["containers"][0]
    assert (router["name"], router["image"]) == ("eg-router", "wharf/epsilon-router:0.1.0")


@pytest.mark.parametrize(
    "text",
    [
        "mab: {image: {name: wharf/epsilon-router}}\n",
        "mab: {image: {name: '', version: 1}}\n",
        "mab: {image: {name: r, version: 1, tag: 2}}\n",
        "mab: {image: ''}\n",
    ],
)
def test_mab_router_image_refused_forms_name_the_field(tmp_path, text):
    f = tmp_path / "my-values.yaml"
    f.write_text("modela: {image: {name: a, version: 1}}\nmodelb: {image: {name: b, version: 1}}\n" + text)
    assert [str(p) for p in check_values_file(CHARTS / "wharf-mab", f)] == [
        f"{f}: mab.image: set mab.image to an epsilon-greedy router image: registry/repository:tag, "
        "or upstream's {name, version}"
    ]


# --- quantities: schema ---------------------------------------------------------------------------


def test_the_pattern_is_the_one_crds_carry_for_apimachinery_quantity():
    assert quantity.PATTERN == (
        r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
        r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
    )


@pytest.mark.parametrize("value,accepted", QUANTITIES + [(NOT_EXACT_IN_HELM, False)])
def test_quantity_schema_takes_strings_and_numbers_kubernetes_takes(value, accepted):
    errors = list(Draft7Validator(quantity.quantity()).iter_errors(value))
    assert (not errors) == accepted, [e.message for e in errors]
    if errors:
        assert errors[0].schema["errorMessage"] == quantity.MESSAGE


@pytest.mark.parametrize("value,accepted", [("", True), ("-1", False), ("250m", True), (0.5, True)])
def test_quantity_or_empty_adds_only_the_empty_string(value, accepted):
    assert (not list(Draft7Validator(quantity.quantity(allow_empty=True)).iter_errors(value))) == accepted


# Where each chart keeps resources, as a values file with one quantity at every place.
def _resources_values(chart: str, q) -> str:
    """The chart's ci/default-values.yaml with ``q`` at every quantity, as JSON (JSON is YAML, and
    keeps each value's type as written)."""
    res = {"requests": {"cpu": q, "memory": q}, "limits": {"cpu": q, "memory": q}}
    containers = [
        {"name": "scaler", "image": "wharf/scaler:0.1.0", "resources": res},
        {"name": "iris", "image": "wharf/iris:0.1.0", "resources": res},
    ]
    where = {
        "wharf-graph": {"componentSpecs": [{"spec": {"containers": containers}}], "svcOrchSpec": {"resources": res}},
        "wharf-model": {"model": {"image": "m:1", "resources": res}},
        "wharf-abtest": {"resources": res},
        "wharf-mab": {"resources": res, "engine": {"resources": res}},
        "wharf-core": {
            "executor": {"resources": {k: q for k in ("cpuLimit", "cpuRequest", "memoryLimit", "memoryRequest")}},
            "manager": {k: q for k in ("cpuLimit", "cpuRequest", "memoryLimit", "memoryRequest")},
        },
    }[chart]
    base = "transformer-values.yaml" if chart == "wharf-graph" else "default-values.yaml"
    defaults = load_yaml((CHARTS / chart / "ci" / base).read_text()) or {}
    return json.dumps(merge_values(defaults, where))


RESOURCE_CHARTS = ["wharf-model", "wharf-abtest", "wharf-mab", "wharf-core", "wharf-graph"]


@pytest.mark.parametrize("chart", RESOURCE_CHARTS)
@pytest.mark.parametrize("q", ["0.1", 0.1, "1Gi", 1073741824])
def test_every_resources_entry_takes_string_and_number_quantities(tmp_path, chart, q):
    f = tmp_path / "my-values.yaml"
    f.write_text(_resources_values(chart, q))
    assert check_values_file(CHARTS / chart, f) == []


@pytest.mark.parametrize("chart", RESOURCE_CHARTS)
@pytest.mark.parametrize("q", ["-1", "lots", True])
def test_every_resources_entry_refuses_what_kubernetes_refuses_with_one_message(tmp_path, chart, q):
    f = tmp_path / "my-values.yaml"
    f.write_text(_resources_values(chart, q))
    problems = check_values_file(CHARTS / chart, f)
    assert problems and all(p.message == quantity.MESSAGE for p in problems), problems
    assert all("resources" in p.path or p.path.startswith("manager.") for p in problems)


def test_every_resources_key_in_every_chart_schema_is_the_quantity_schema():
    """grep-like: no chart keeps a hand-typed resources schema (string-only or number-only)."""
    found = []

    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "resources" and path and path[-1] == "properties" and isinstance(value, dict):
                    found.append(("/".join(path), value))
                walk(value, path + [key])
        elif isinstance(node, list):
            for value in node:
                walk(value, path)

    for schema_file in sorted(CHARTS.glob("*/values.schema.json")):
        walk(json.loads(schema_file.read_text()), [schema_file.parent.name])
    assert len(found) >= 5
    for where, schema in found:
        leaves = schema.get("properties", {})
        if "requests" in leaves:  # core/v1 ResourceRequirements
            assert leaves["requests"]["additionalProperties"]["anyOf"] == quantity.quantity()["anyOf"], where
        else:  # wharf-core's executor.resources: one quantity per key
            assert all(v["anyOf"] == quantity.quantity()["anyOf"] for v in leaves.values()), where


# --- quantities: rendering ------------------------------------------------------------------------


def rendered_resources(sdep: dict) -> list[dict]:
    predictor = sdep["spec"]["predictors"][0]
    out = [c["resources"] for spec in predictor["componentSpecs"] for c in spec["spec"]["containers"]]
    if "svcOrchSpec" in predictor:
        out.append(predictor["svcOrchSpec"]["resources"])
    return out


@pytest.mark.helm
@pytest.mark.parametrize("chart", sorted(RENDER_CASES))
def test_number_and_string_quantities_render_as_quoted_exact_strings(helm, tmp_path, chart):
    mine = tmp_path / "mine.yaml"
    mine.write_text(RENDER_CASES[chart])
    docs = helm_template(
        CHARTS / chart, [mine] if chart != "wharf-mab" else [CHARTS / chart / "ci" / "default-values.yaml", mine]
    )
    found = rendered_resources(docs[0].doc)
    assert found and all(r == RENDERED for r in found), found
    text = subprocess.run(
        [
            str(helm),
            "template",
            "r",
            str(CHARTS / chart),
            "-f",
            str(mine),
            *(["-f", str(CHARTS / chart / "ci" / "default-values.yaml")] if chart == "wharf-mab" else []),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for line in ('cpu: "0.1"', 'memory: "1073741824"', 'cpu: "2"', 'ephemeral-storage: "1000000"'):
        key, value = line.split(": ")
        assert re.search(rf'"?{key}"?: {value}', text), line
    assert "e+0" not in text


@pytest.mark.helm
def test_core_quantities_render_as_quoted_exact_strings(helm, tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        "executor:\n  resources: {cpuRequest: 0.25, cpuLimit: '1', memoryRequest: 1000000,"
        " memoryLimit: 1073741824}\nmanager: {cpuRequest: 0.1, cpuLimit: 2, memoryRequest: 200Mi,"
        " memoryLimit: 1073741824}\n"
    )
    docs = [r.doc for r in helm_template(CHARTS / "wharf-core", [mine])]
    operator = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in operator["env"]}
    assert {
        k: env[f"EXECUTOR_DEFAULT_{k}"] for k in ("CPU_REQUEST", "CPU_LIMIT", "MEMORY_REQUEST", "MEMORY_LIMIT")
    } == {"CPU_REQUEST": "0.25", "CPU_LIMIT": "1", "MEMORY_REQUEST": "1000000", "MEMORY_LIMIT": "1073741824"}
    assert operator["resources"] == {
        "requests": {"cpu": "0.1", "memory": "200Mi"},
        "limits": {"cpu": "2", "memory": "1073741824"},
    }
