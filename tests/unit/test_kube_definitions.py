"""The Kubernetes definitions the renderer checks pod specs against travel inside the package, so
the operator, the orchestrator and `wharf run` validate without kubernetes-validate (108 MB)."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources

from wharf.deployment import kube


def test_the_packaged_definitions_are_kubernetes_validates_own_for_the_roots_and_their_references() -> None:
    packaged = json.loads(resources.files("wharf.deployment").joinpath(kube.DEFINITIONS_FILE).read_text())
    assert packaged == kube.core_definitions()  # also `invoke generate --check` in CI
    names = set(packaged["$defs"])
    assert {f"io.k8s.api.core.v1.{root}" for root in kube.ROOTS} <= names
    dangling = {ref.rsplit("/", 1)[-1] for ref in kube._refs(packaged)} - names
    assert dangling == set()


def test_validation_runs_where_kubernetes_validate_is_not_installed() -> None:
    """A model or orchestrator image has only the runtime: import blocked, same messages."""
    code = (
        "import sys; sys.modules['kubernetes_validate'] = None\n"  # any import of it now fails
        "from wharf.deployment.kube import object_problems\n"
        "print(object_problems({'name': 'c', 'imagePullPolicy': 22, 'tty': 'yes'}, 'Container', 'c'))\n"
    )
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == (
        "['c.imagePullPolicy: expected a string, got 22', \"c.tty: expected a boolean, got 'yes'\"]"
    )
