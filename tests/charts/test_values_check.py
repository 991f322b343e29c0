"""Values files against the charts' schemas: every error, each naming file, key path and expectation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chart_support import CHARTS, CI_CASES

from wharf.charts.quantity import MESSAGE as QUANTITY_MESSAGE
from wharf.charts.values_check import check_values_file, merge_values


@pytest.mark.parametrize("chart,values", CI_CASES)
def test_every_ci_values_file_is_valid(chart, values):
    assert check_values_file(CHARTS / chart, CHARTS / chart / "ci" / values) == []


def _problems(tmp_path: Path, chart: str, text: str) -> list[str]:
    f = tmp_path / "my-values.yaml"
    f.write_text(text)
    return [str(p) for p in check_values_file(CHARTS / chart, f)]


def test_all_errors_are_reported_with_file_path_and_expectation(tmp_path):
    problems = _problems(
        tmp_path,
        "wharf-model",
        "replicas: two\nmodle: {}\nmodel:\n  imagePullPolicy: Sometimes\n  resources: {requests: {cpu: lots}}\n",
    )
    f = tmp_path / "my-values.yaml"
    assert problems == [
        f'{f}: model.imagePullPolicy: expected one of "IfNotPresent", "Always", "Never", got "Sometimes"',
        f"{f}: model.resources.requests.cpu: {QUANTITY_MESSAGE}",
        f"{f}: modle: unknown key (allowed here: annotations, apiVersion, enabled, global, hpa, ingress, labels, "
        "model, nameOverride, protocol, replicas, route, test, transport)",
        f'{f}: replicas: expected integer, got string "two"',
    ]


@pytest.mark.parametrize(
    "chart,text,expected",
    [
        (
            "wharf-model",
            "model: {image: x:1, env: {A: [1]}}\n",
            "model.env.A: expected string or number or boolean, got array [1]",
        ),
        (
            "wharf-model",
            "model: {image: x:1}\nhpa: {enabled: true, maxReplicas: 0}\n",
            "hpa.maxReplicas: expected minimum 1, got 0",
        ),
        (
            "wharf-abtest",
            "modela: {image: {version: 1}}\n",
            "modela.image.name: set modela.image.name to the model image (e.g. registry/repository)",
        ),
        ("wharf-abtest", "traffic_modela_percentage: 50\n", "traffic_modela_percentage: expected maximum 1, got 50"),
        (
            "wharf-mab",
            "mab: {name: eg}\n",
            "mab.image: set mab.image to an epsilon-greedy router image: registry/repository:tag, or upstream's {name, version}",
        ),
        ("wharf-graph", "graph: {type: MODEL}\n", "graph.name: required key is missing"),
        ("wharf-graph", "graph: {name: m, type: MDOEL}\n", "graph.type: expected one of"),
        ("wharf-core", "image: {repository: ''}\n", "image.repository: image.repository must name the operator image"),
        ("wharf-core", "image: {digest: latest}\n", "image.digest: expected a value matching"),
        ("wharf-core", "singleNamespace: 'yes please'\n", 'singleNamespace: expected boolean, got string "yes please"'),
        (
            "wharf-core",
            "crds: {enabled: true, keeep: false}\n",
            "crds.keeep: unknown key (allowed here: enabled, keep)",
        ),
    ],
)
def test_broken_values_fail_with_the_expected_message(tmp_path, chart, text, expected):
    problems = _problems(tmp_path, chart, text)
    assert any(expected in p for p in problems), problems
    assert all(p.startswith(str(tmp_path / "my-values.yaml") + ": ") for p in problems)


def test_missing_model_image_is_fine_with_a_prepackaged_server(tmp_path):
    assert _problems(tmp_path, "wharf-model", "model: {implementation: SKLEARN_SERVER, uri: gs://b/m}\n") == []


def test_not_a_mapping_and_bad_yaml(tmp_path):
    assert _problems(tmp_path, "wharf-model", "- a\n") == [
        f"{tmp_path / 'my-values.yaml'}: (root): expected a mapping of values, got array"
    ]
    assert "not valid YAML" in _problems(tmp_path, "wharf-model", "a: [\n")[0]


def test_merge_is_helms_coalescing():
    base = {"a": {"b": 1, "c": 2}, "d": [1], "e": 1}
    assert merge_values(base, {"a": {"b": 3}, "d": [2], "e": None}) == {"a": {"b": 3, "c": 2}, "d": [2]}
    assert base == {"a": {"b": 1, "c": 2}, "d": [1], "e": 1}


def test_schema_file_is_draft7_json():
    for chart in CHARTS.iterdir():
        if (chart / "values.schema.json").exists():
            assert json.loads((chart / "values.schema.json").read_text())["$schema"].startswith(
                "http://json-schema.org/draft-07/"
            )
