"""`wharf render` on files, operator settings from the environment, and the pure status logic."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from wharf.cli import main
from wharf.deployment.model import parse
from wharf.operator import status
from wharf.operator.config import OperatorConfig
from wharf.operator.handlers import with_removals
from wharf.operator.render import render

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "render"


def test_wharf_render_prints_every_object(capsys, monkeypatch) -> None:
    monkeypatch.setenv("EXECUTOR_CONTAINER_IMAGE_AND_VERSION", "wharf/orchestrator:test")
    assert main(["render", str(FIXTURES / "abtest-two-pods" / "sdep.yaml")]) == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [
        ("Deployment", "ab-default-0-classifier-1"),
        ("Deployment", "ab-default-1-classifier-2"),
        ("Service", "ab-default-classifier-1"),
        ("Service", "ab-default-classifier-2"),
        ("Service", "ab-default"),
    ]


def test_wharf_render_reports_the_field_and_exits_1(tmp_path, capsys) -> None:
    bad = yaml.safe_load((FIXTURES / "single-model" / "sdep.yaml").read_text())
    bad["spec"]["predictors"][0]["graph"]["name"] = "ghost"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    assert main(["render", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"error: {path}: SeldonDeployment iris: spec.predictors[0].graph.name: no container named 'ghost'" in err


def test_wharf_render_without_an_sdep(tmp_path, capsys) -> None:
    path = tmp_path / "cm.yaml"
    path.write_text("kind: ConfigMap\nmetadata: {name: x}\n")
    assert main(["render", str(path)]) == 1  # the input is wrong; 2 is for bad flags
    assert "no SeldonDeployment found" in capsys.readouterr().err


def test_config_from_env_reads_upstream_variables_and_names_bad_ones() -> None:
    config = OperatorConfig.from_env(
        {"ISTIO_ENABLED": "true", "PREDICTIVE_UNIT_HTTP_SERVICE_PORT": "7000", "WHARF_EXECUTOR_COMMAND": ""}
    )
    assert config.istio_enabled and config.unit_http_port == 7000
    assert config.executor_command == ()  # empty: run the image's own entrypoint (an upstream executor image)
    assert OperatorConfig.from_env({}).executor_command == ("wharf", "orchestrator")
    with pytest.raises(ValueError, match="EXECUTOR_SERVER_PORT='x': expected an integer"):
        OperatorConfig.from_env({"EXECUTOR_SERVER_PORT": "x"})


def test_openshift_mode_empty_uids_leave_every_pod_to_the_scc() -> None:
    # wharf-core's openshift mode sets both variables to "": no runAsUser may be rendered
    config = OperatorConfig.from_env({"DEFAULT_USER_ID": "", "EXECUTOR_CONTAINER_USER": ""})
    assert config.default_user_id == "" and config.executor_user == ""
    sdep = yaml.safe_load((FIXTURES / "abtest-two-pods" / "sdep.yaml").read_text())
    deployments = [o for o in render(sdep, config) if o["kind"] == "Deployment"]
    assert deployments and "runAsUser" not in str(deployments)
    assert "runAsUser" in str([o for o in render(sdep) if o["kind"] == "Deployment"])  # the default sets 8888


def _objects() -> tuple[dict, list[dict]]:
    sdep = yaml.safe_load((FIXTURES / "abtest-two-pods" / "sdep.yaml").read_text())
    return sdep, render(sdep)


def _dep_status(available: bool, replicas: int = 1, stalled: bool = False) -> dict:
    conditions = [{"type": "Available", "status": str(available)}]
    if stalled:
        conditions.append({"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"})
    return {"replicas": replicas, "availableReplicas": replicas if available else 0, "conditions": conditions}


def test_status_creating_until_every_deployment_is_available() -> None:
    sdep, objs = _objects()
    st = status.compute(sdep, objs, {"ab-default-0-classifier-1": _dep_status(True)})
    assert st["state"] == "Creating"
    assert st["deploymentStatus"]["ab-default-1-classifier-2"]["status"] == "Creating"
    st = status.compute(
        sdep, objs, {"ab-default-0-classifier-1": _dep_status(True), "ab-default-1-classifier-2": _dep_status(True)}
    )
    assert st["state"] == "Available" and st["replicas"] == 2
    assert st["address"]["url"] == "http://ab-default.models.svc.cluster.local:8000/api/v1.0/predictions"
    assert st["serviceStatus"]["ab-default"] == {
        "svcName": "ab-default",
        "httpEndpoint": "ab-default.models:8000",
        "grpcEndpoint": "ab-default.models:5001",
    }


def test_status_failed_when_a_deployment_stops_progressing() -> None:
    sdep, objs = _objects()
    st = status.compute(
        sdep,
        objs,
        {"ab-default-0-classifier-1": _dep_status(True), "ab-default-1-classifier-2": _dep_status(False, stalled=True)},
    )
    assert st["state"] == "Failed"
    assert st["description"] == "Deployment is no longer progressing and not available."


def test_status_address_follows_the_protocol() -> None:
    sdep, _ = _objects()
    sdep["spec"]["protocol"] = "v2"
    assert status.prediction_path(parse(sdep)) == "/v2/models/random-ab-test/infer"
    sdep["spec"]["protocol"] = "tensorflow"
    assert status.prediction_path(parse(sdep)) == "/v1/models/random-ab-test:predict"


def test_status_patch_removes_entries_that_are_gone() -> None:
    old = {"deploymentStatus": {"a": {}, "b": {}}, "serviceStatus": {"s": {}}}
    new = {"deploymentStatus": {"b": {"x": 1}}, "serviceStatus": {"s": {}}}
    assert with_removals(old, new)["deploymentStatus"] == {"b": {"x": 1}, "a": None}
    assert with_removals(old, new)["serviceStatus"] == {"s": {}}
