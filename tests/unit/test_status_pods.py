"""Why a SeldonDeployment's pod cannot start, read from pod status as the kubelet reports it.

The pod statuses below have the shape kubelet 1.37 writes (checked against the real node in
tests/node/test_e2e_prepackaged.py, where an initializer fetching a missing modelUri fails).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from wharf.operator import status
from wharf.operator.render import render

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "render"


def pod(name: str, app: str, init: list[dict] | None = None, containers: list[dict] | None = None) -> dict:
    return {
        "metadata": {"name": name, "labels": {"app": app, "seldon-deployment-id": "ab"}},
        "status": {"phase": "Pending", "initContainerStatuses": init or [], "containerStatuses": containers or []},
    }


def crashing_init(restarts: int) -> dict:
    return {
        "name": "classifier-model-initializer",
        "restartCount": restarts,
        "ready": False,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 20s restarting failed container"}},
        "lastState": {
            "terminated": {
                "exitCode": 2,
                "reason": "Error",
                "message": "copying s3://models/iris\nerror: s3://models/iris: no object under "
                "this prefix in bucket models\n",
            }
        },
    }


def test_a_crash_looping_initializer_names_its_last_log_line() -> None:
    failure = status.pod_failure(pod("p", "d", init=[crashing_init(3)]))
    assert failure == (
        "init container classifier-model-initializer failed (exit code 2, 3 restarts): "
        "error: s3://models/iris: no object under this prefix in bucket models"
    )


def test_the_first_failure_counts_before_any_restart() -> None:
    first = {
        "name": "m-model-initializer",
        "restartCount": 0,
        "state": {"terminated": {"exitCode": 1, "reason": "Error", "message": "no such bucket: b\n"}},
    }
    assert (
        status.pod_failure(pod("p", "d", init=[first]))
        == "init container m-model-initializer failed (exit code 1): no such bucket: b"
    )


def test_pods_still_starting_or_running_are_not_failures() -> None:
    running_init = {"name": "i", "restartCount": 0, "state": {"running": {"startedAt": "2026-12-04T18:00:00Z"}}}
    done_init = {"name": "i", "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
    initializing = {"name": "c", "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}
    creating = {"name": "c", "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}
    # a container that crashed once and now runs again: its lastState is history, not a failure
    recovered = {
        "name": "c",
        "restartCount": 1,
        "state": {"running": {}},
        "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}},
    }
    for p in (
        pod("p", "d", init=[running_init]),
        pod("p", "d", init=[done_init], containers=[initializing]),
        pod("p", "d", init=[done_init], containers=[creating]),
        pod("p", "d", containers=[recovered]),
    ):
        assert status.pod_failure(p) is None, p


def test_an_image_that_cannot_be_pulled_is_named() -> None:
    pulling = {
        "name": "classifier",
        "restartCount": 0,
        "image": "wharf/nope:1",
        "state": {
            "waiting": {
                "reason": "ErrImagePull",
                "message": 'failed to pull and unpack image "docker.io/wharf/nope:1": not found',
            }
        },
    }
    assert status.pod_failure(pod("p", "d", containers=[pulling])) == (
        'container classifier: ErrImagePull: failed to pull and unpack image "docker.io/wharf/nope:1": not found'
    )


def test_a_long_message_is_cut_and_only_its_last_line_is_kept() -> None:
    init = crashing_init(1)
    init["lastState"]["terminated"]["message"] = "Traceback...\n" + "x" * 5000
    failure = status.pod_failure(pod("p", "d", init=[init]))
    assert failure.endswith("...") and len(failure) < 400 and "Traceback" not in failure


def test_the_sdep_is_failed_with_the_pods_reason_while_not_available() -> None:
    sdep = yaml.safe_load((FIXTURES / "abtest-two-pods" / "sdep.yaml").read_text())
    objects = render(sdep)
    deps = [o["metadata"]["name"] for o in objects if o["kind"] == "Deployment"]
    failures = status.pod_failures(
        [pod("a-1", deps[1], init=[crashing_init(2)]), pod("a-2", deps[1], init=[crashing_init(2)])]
    )
    assert list(failures) == [deps[1]] and failures[deps[1]].startswith("pod a-1: init container")
    ready = {"replicas": 1, "availableReplicas": 1, "conditions": [{"type": "Available", "status": "True"}]}
    creating = {"replicas": 1, "availableReplicas": 0, "conditions": [{"type": "Available", "status": "False"}]}
    st = status.compute(sdep, objects, {deps[0]: ready, deps[1]: creating}, failures)
    assert st["state"] == "Failed"
    assert st["description"] == f"Deployment {deps[1]}: {failures[deps[1]]}"
    assert "no object under this prefix in bucket models" in st["description"]
    assert st["deploymentStatus"][deps[1]] == {
        "name": deps[1],
        "status": "Failed",
        "replicas": 1,
        "availableReplicas": 0,
        "description": failures[deps[1]],
    }
    assert st["deploymentStatus"][deps[0]]["status"] == "Available"
    assert next(c for c in st["conditions"] if c["type"] == "DeploymentsReady")["message"] == st["description"]
    # once its pods are ready the failure no longer counts, even if a stale one is passed
    st = status.compute(sdep, objects, {deps[0]: ready, deps[1]: ready}, failures)
    assert st["state"] == "Available" and "description" not in st["deploymentStatus"][deps[1]]
