"""The probe SeldonDeployment of wharf-core's helm test (python -m wharf.operator.selftest)."""

from __future__ import annotations

from wharf.operator.config import OperatorConfig
from wharf.operator.render import render
from wharf.operator.selftest import probe_deployment


def test_probe_is_a_valid_seldondeployment_that_starts_no_pod():
    sdep = probe_deployment("wharf-test", "docker.io/wharf/orchestrator:0.1.0", "team-a")
    sdep["metadata"]["namespace"] = "wharf-system"
    objects = render(sdep, OperatorConfig.from_env({"EXECUTOR_CONTAINER_IMAGE_AND_VERSION": "wharf/orchestrator:t"}))
    deployments = [o for o in objects if o["kind"] == "Deployment"]
    assert deployments and all(d["spec"]["replicas"] == 0 for d in deployments)
    # the operator only handles it if the controller id matches its own
    assert sdep["metadata"]["labels"] == {"seldon.io/controller-id": "team-a"}
