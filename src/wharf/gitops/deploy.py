"""``invoke deploy``: the runtime or a model onto the current kube context, by Helm or kustomize.

Both paths do what their GitOps twins do, so what works here works from Argo CD:

- Helm: ``helm upgrade --install --atomic`` (Helm 4: ``--rollback-on-failure``; a failed upgrade rolls
  back: no half-done release).
- kustomize: ``kubectl apply --server-side`` with our field manager (the CRD is too large for
  client-side apply's last-applied annotation; server-side apply is what Argo CD's
  ``ServerSideApply=true`` does).

``dry_run`` prints what would change instead, as ``kubectl diff --server-side`` computes it
against the live cluster (the API server runs admission and defaulting, so the diff is exact).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

FIELD_MANAGER = "wharf-deploy"


class DeployError(RuntimeError):
    """helm or kubectl refused; the message carries their own words."""


@dataclass
class Outcome:
    changed: bool  # dry run: there are differences; apply: something was applied
    output: str
    commands: list[list[str]] = field(default_factory=list)


def _run(cmd: list[str], stdin: str | None = None, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=900)
    if done.returncode not in ok:
        raise DeployError(
            f"{' '.join(cmd[:3])} ... failed (exit {done.returncode}):\n{(done.stderr or done.stdout).strip()}"
        )
    return done


def _kubectl(kubeconfig: Path | None) -> list[str]:
    return ["kubectl", *([f"--kubeconfig={kubeconfig}"] if kubeconfig else [])]


def kubectl_diff(manifest: str, kubeconfig: Path | None, namespace: str | None = None) -> Outcome:
    """``kubectl diff --server-side`` of ``manifest``: exit 0 = no differences, 1 = differences.

    The API server cannot dry-run objects into a namespace that does not exist yet (the first
    install creates it), so those are listed as to be created instead of failing the whole diff.
    """
    docs = [d for d in yaml.safe_load_all(manifest) if d]
    live = set(
        _run([*_kubectl(kubeconfig), "get", "namespaces", "-o", "jsonpath={.items[*].metadata.name}"]).stdout.split()
    )
    creating = {d["metadata"]["name"] for d in docs if d.get("kind") == "Namespace"}
    later = [
        d
        for d in docs
        if d.get("kind") != "Namespace" and (d["metadata"].get("namespace") or namespace) in creating - live
    ]
    now = [d for d in docs if d not in later]
    cmd = [
        *_kubectl(kubeconfig),
        "diff",
        "--server-side",
        f"--field-manager={FIELD_MANAGER}",
        "--force-conflicts",
        *(["-n", namespace] if namespace else []),
        "-f",
        "-",
    ]
    done = _run(cmd, yaml.safe_dump_all(now), ok=(0, 1))
    notes = "".join(
        f"+ {d['kind']}/{d['metadata']['name']} in namespace {d['metadata'].get('namespace') or namespace} "
        f"(created with the namespace; not dry-run)\n"
        for d in later
    )
    return Outcome(done.returncode == 1 or bool(later), done.stdout + notes, [cmd])


def kustomize(overlay: Path, kubeconfig: Path | None = None, dry_run: bool = False) -> Outcome:
    if not (overlay / "kustomization.yaml").is_file():
        raise DeployError(f"{overlay}: not a kustomize directory (no kustomization.yaml)")
    if dry_run:
        built = _run(["kubectl", "kustomize", str(overlay)])
        return kubectl_diff(built.stdout, kubeconfig)
    cmd = [
        *_kubectl(kubeconfig),
        "apply",
        "--server-side",
        f"--field-manager={FIELD_MANAGER}",
        "--force-conflicts",
        "-k",
        str(overlay),
    ]
    done = _run(cmd)
    return Outcome(True, done.stdout, [cmd])


def rollback_flag(major: str | None = None) -> str:
    """Helm's "roll back a failed upgrade" flag for the Helm major in use: ``--atomic`` in Helm 3,
    ``--rollback-on-failure`` in Helm 4 (where ``--atomic`` is a deprecated alias that warns). Both
    imply waiting: the release counts only once its workloads are ready."""
    from wharf.charts.helm import selected_major

    return "--rollback-on-failure" if selected_major(major) == "4" else "--atomic"


def helm(
    chart: Path,
    release: str,
    namespace: str,
    values: list[Path] = (),
    set_values: dict[str, str] | None = None,
    kubeconfig: Path | None = None,
    dry_run: bool = False,
    timeout: str = "5m",
) -> Outcome:
    from wharf.charts.helm import ensure_helm

    for path in values:
        if not Path(path).is_file():
            raise DeployError(f"values file {path} does not exist")
    common = [
        str(chart),
        "--namespace",
        namespace,
        *[a for v in values for a in ("--values", str(v))],
        *[a for k, v in (set_values or {}).items() for a in ("--set", f"{k}={v}")],
        *([f"--kubeconfig={kubeconfig}"] if kubeconfig else []),
    ]
    helm_bin = str(ensure_helm())
    if dry_run:
        # Render as the release would be installed, then let the API server compute the diff.
        rendered = _run([helm_bin, "template", release, *common, "--include-crds", "--skip-tests"]).stdout
        outcome = kubectl_diff(rendered, kubeconfig, namespace)
        outcome.commands.insert(0, [helm_bin, "template", release, *common])
        return outcome
    cmd = [
        helm_bin,
        "upgrade",
        "--install",
        release,
        *common,
        "--create-namespace",
        rollback_flag(),
        "--timeout",
        timeout,
    ]
    done = _run(cmd)
    return Outcome(True, done.stdout, [cmd])
