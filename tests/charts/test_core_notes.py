"""wharf-core's NOTES: every command it prints works as printed, against the API server harness.

The Deployment it names is the one the chart renders; `kubectl wait sdep/<model> ...` waits on the
CRD's short name and on the state the operator writes (here written through the status subresource,
as the operator does: no operator runs in this test), and fails while the state is not there yet;
the Service and port it port-forwards to are those the operator renders for the model chart's
SeldonDeployment.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess

import pytest
import yaml
from chart_support import CHARTS

pytestmark = [pytest.mark.helm, pytest.mark.apiserver]


def _notes(helm, tmp_path, namespace: str) -> str:
    # helm prints NOTES only on install; render the same template as a plain one instead.
    copy = shutil.copytree(CHARTS / "wharf-core", tmp_path / "wharf-core")
    (copy / "templates" / "notes.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\n"
        'data: {notes: {{ include "wharf-core/templates/NOTES.txt" . | quote }}}\n'
    )
    done = subprocess.run(
        [str(helm), "template", "wharf", str(copy), "-n", namespace, "--show-only", "templates/notes.yaml"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)["data"]["notes"]


def _template(helm, chart: str, release: str, namespace: str, *sets: str) -> list[dict]:
    args = [a for s in sets for a in ("--set", s)]
    done = subprocess.run(
        [str(helm), "template", release, str(CHARTS / chart), "-n", namespace, *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def test_core_notes_commands_work_as_printed(helm, kube_api, kube_namespace, tmp_path):
    from wharf.deployment.crd import crd
    from wharf.operator.config import OperatorConfig
    from wharf.operator.render import render

    notes = _notes(helm, tmp_path, "wharf-system")
    commands = {line.split()[3]: line.strip() for line in notes.splitlines() if line.strip().startswith("kubectl -n")}
    assert set(commands) == {"rollout", "wait", "port-forward"}, notes

    # The operator Deployment the NOTES watch is the one the chart installs.
    core = _template(helm, "wharf-core", "wharf", "wharf-system")
    deployment = next(d["metadata"]["name"] for d in core if d["kind"] == "Deployment")
    assert commands["rollout"] == f"kubectl -n wharf-system rollout status deployment/{deployment}"

    # The model the NOTES suggest, installed as the wharf-model chart renders it.
    kube_api.apply_crd(crd())
    sdep = next(
        d
        for d in _template(helm, "wharf-model", "my-model", kube_namespace, "model.image=wharf/iris:0.1.0")
        if d["kind"] == "SeldonDeployment"
    )
    kube_api.kubectl("apply", "-n", kube_namespace, "-f", "-", input=json.dumps(sdep))

    def run(command: str, **replace: str) -> subprocess.CompletedProcess:
        args = shlex.split(command.replace("<namespace>", kube_namespace))
        assert args[0] == "kubectl"
        args = [a if not a.startswith("--timeout=") else replace.get("timeout", a) for a in args[1:]]
        return kube_api.kubectl(*args, check=False, timeout=60)

    waiting = run(commands["wait"], timeout="--timeout=2s")
    assert waiting.returncode != 0 and "timed out" in waiting.stderr, waiting  # not Available yet
    kube_api.kubectl(
        "patch",
        "sdep",
        "my-model",
        "-n",
        kube_namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {"state": "Available"}}),
    )
    waited = run(commands["wait"])
    assert waited.returncode == 0, waited.stderr
    assert "condition met" in waited.stdout

    # port-forward svc/<name> <port>:<port>: the Service and port the operator creates for that model.
    stored = json.loads(kube_api.kubectl("get", "sdep", "my-model", "-n", kube_namespace, "-o", "json").stdout)
    services = {o["metadata"]["name"]: o for o in render(stored, OperatorConfig()) if o["kind"] == "Service"}
    target = commands["port-forward"].split()[4]
    local, _, remote = commands["port-forward"].split()[5].partition(":")
    assert target.startswith("svc/") and target[4:] in services, (target, sorted(services))
    assert int(remote) in {p["port"] for p in services[target[4:]]["spec"]["ports"]}
    assert f"http://localhost:{local}/api/v1.0/predictions" in notes
