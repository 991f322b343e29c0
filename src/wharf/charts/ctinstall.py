"""ct-style ``install`` against the current cluster (KUBECONFIG): for each chart and each ci values file,
a fresh namespace, ``helm install --wait``, Deployments rolled out, ``helm test``, an upgrade from the
previous chart version where one exists, ``helm uninstall``, namespace deleted.

Differences from ct, on purpose: the previous version is taken with ``git archive`` (no worktree, so
the checkout is never touched), and ``wait``/``run_tests`` can be turned off for an API server with no
nodes (no kubelet: Deployments never become available and test Pods never run).
"""

from __future__ import annotations

import os
import random
import shlex
import string
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from wharf.charts import gitrefs, semver
from wharf.charts.ctconfig import CtConfig
from wharf.charts.helm import ensure_helm
from wharf.charts.lint import announce, selected_charts
from wharf.charts.validate import ci_values_files
from wharf.charts.values_schema import load_yaml


@dataclass
class InstallOptions:
    kubeconfig: str | None = None  # default: $KUBECONFIG / ~/.kube/config, as helm and kubectl
    wait: bool = True  # helm --wait and kubectl rollout status
    run_tests: bool = True  # helm test (needs a kubelet to run the test Pods)
    timeout: str = "300s"


@dataclass
class InstallResult:
    chart: str
    values: str
    ok: bool
    log: list[str] = field(default_factory=list)


class StepFailed(RuntimeError):
    pass


def names(base: str, build_id: str = "", rand: Callable[[], str] | None = None) -> tuple[str, str]:
    """(release, namespace) as ct makes them: base[-build-id]-<10 random [0-9a-z]>, cut to 63 from the left."""
    suffix = (rand or (lambda: "".join(random.choices(string.ascii_lowercase + string.digits, k=10))))()

    def make(prefix: str) -> str:
        name = f"{prefix}-{suffix}"
        if len(name) > 63:
            name = name[len(name) - 63 :]
        return name.lstrip("-_.")

    namespace = make(f"{base}-{build_id}" if build_id else base)
    return make(base), namespace


class Runner:
    def __init__(self, options: InstallOptions, log: list[str], out: Callable[[str], None]):
        self.options, self.log, self.out = options, log, out
        self.env = dict(os.environ)
        if options.kubeconfig:
            self.env["KUBECONFIG"] = options.kubeconfig
        self.helm = str(ensure_helm())

    def run(
        self, *cmd: str, check: bool = True, timeout: float = 900, show: bool = False
    ) -> subprocess.CompletedProcess:
        """Run ``cmd``; its output goes to the log, and also to ``out`` when ``show`` (diagnostics)."""
        line = " ".join(shlex.quote(c) for c in cmd)
        self.log.append(f"$ {line}")
        self.out(f"  $ {line}")
        done = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, env=self.env)
        output = (done.stdout + done.stderr).strip()
        if output:
            self.log.append(output)
            if show:
                self.out(output)
        if check and done.returncode != 0:
            raise StepFailed(f"`{line}` exited {done.returncode}:\n{output}")
        return done

    def kubectl(
        self, *args: str, check: bool = True, timeout: float = 300, show: bool = False
    ) -> subprocess.CompletedProcess:
        return self.run("kubectl", *args, check=check, timeout=timeout, show=show)


def _helm_install(
    r: Runner,
    verb: str,
    release: str,
    chart: Path,
    namespace: str,
    values: Path | None,
    config: CtConfig,
    opts: InstallOptions,
) -> None:
    cmd = [r.helm, verb, release, str(chart), "--namespace", namespace]
    if opts.wait:
        cmd += ["--wait", "--timeout", opts.timeout]
    if values:
        cmd += ["--values", str(values)]
    # As ct: both strings go to helm verbatim (e.g. "--timeout 600s", "--set=a=b"); later flags win.
    cmd += [*shlex.split(config.helm_extra_args), *shlex.split(config.helm_extra_set_args)]
    r.run(*cmd)


def _wait_deployments(r: Runner, namespace: str, config: CtConfig, opts: InstallOptions) -> None:
    if not opts.wait:
        return
    found = r.kubectl("get", "deployments", "--namespace", namespace, "-o", "name")
    for name in found.stdout.split():
        r.kubectl("rollout", "status", name, "--namespace", namespace, f"--timeout={opts.timeout}")
        unavailable = r.kubectl(
            "get", name, "--namespace", namespace, "-o", "jsonpath={.status.unavailableReplicas}"
        ).stdout.strip()
        if unavailable not in ("", "0"):
            raise StepFailed(f"{name} in {namespace} has {unavailable} unavailable replicas")


def _helm_test(r: Runner, release: str, namespace: str, config: CtConfig, opts: InstallOptions) -> None:
    if opts.run_tests:
        # shown, as ct shows it: the test Pods' logs say what was checked
        r.run(r.helm, "test", release, "--namespace", namespace, "--logs", "--timeout", opts.timeout, show=True)


def _debug_dump(r: Runner, namespace: str, config: CtConfig) -> None:
    # Printed, as ct prints them: after a failed install they are what says why.
    r.kubectl("get", "events", "--namespace", namespace, "--sort-by=.lastTimestamp", check=False, show=True)
    r.kubectl("describe", "pods", "--namespace", namespace, check=False, show=True)
    if config.print_logs:
        r.kubectl(
            "logs",
            "--namespace",
            namespace,
            "--all-containers",
            "--prefix",
            "-l",
            f"{config.release_label}",
            "--tail=200",
            check=False,
            show=True,
        )


def _cleanup(r: Runner, release: str, namespace: str, config: CtConfig, failed: bool) -> None:
    if config.skip_clean_up:
        return
    if failed:
        _debug_dump(r, namespace, config)
    r.run(r.helm, "uninstall", release, "--namespace", namespace, "--wait", "--timeout", "180s", check=False)
    if not config.namespace:
        deleted = r.kubectl("delete", "namespace", namespace, "--wait", "--timeout=180s", check=False, timeout=200)
        if deleted.returncode != 0:
            r.kubectl("delete", "namespace", namespace, "--force", "--grace-period=0", "--wait=false", check=False)


def _cycle(
    r: Runner, chart: Path, values: Path | None, config: CtConfig, opts: InstallOptions, previous: Path | None = None
) -> None:
    """Install (``previous`` or ``chart``), wait, test; upgrade to ``chart`` and test again if ``previous``."""
    release, namespace = names(chart.name, config.build_id)
    if config.namespace:
        namespace = config.namespace
    else:
        r.kubectl("create", "namespace", namespace)
    failed = True
    try:
        _helm_install(r, "install", release, previous or chart, namespace, values, config, opts)
        _wait_deployments(r, namespace, config, opts)
        _helm_test(r, release, namespace, config, opts)
        if previous is not None:
            _helm_install(r, "upgrade", release, chart, namespace, values, config, opts)
            _wait_deployments(r, namespace, config, opts)
            _helm_test(r, release, namespace, config, opts)
        failed = False
    finally:
        _cleanup(r, release, namespace, config, failed)


def install_chart(
    repo: Path,
    chart: Path,
    base: str | None,
    config: CtConfig,
    opts: InstallOptions,
    out: Callable[[str], None] = print,
) -> list[InstallResult]:
    results = []
    values_files: list[Path | None] = list(ci_values_files(chart)) or [None]
    with tempfile.TemporaryDirectory(prefix="wharf-ct-") as tmp:
        previous = _previous_chart(repo, chart, base, Path(tmp), config) if config.upgrade else None
        for values in values_files:
            label = values.name if values else "(defaults)"
            log: list[str] = []
            r = Runner(opts, log, out)
            try:
                if previous is not None:
                    old_values = previous / "ci" / values.name if values else None
                    if old_values is not None and not old_values.is_file():
                        old_values = None if config.skip_missing_values else values
                    if values is None or old_values is not None:
                        out(f"  upgrade {chart.name} from its previous version with {label}")
                        _cycle(r, chart, old_values if values else None, config, opts, previous=previous)
                out(f"  install {chart.name} with {label}")
                _cycle(r, chart, values, config, opts)
                results.append(InstallResult(chart.name, label, True, log))
            except (StepFailed, subprocess.TimeoutExpired) as exc:
                log.append(str(exc))
                results.append(InstallResult(chart.name, label, False, log))
                out(f"  ✖︎ {exc}")
    return results


def _previous_chart(repo: Path, chart: Path, base: str | None, tmp: Path, config: CtConfig) -> Path | None:
    """The chart at the target branch if it exists there and the bump is non-breaking (ct's rule)."""
    if base is None:
        base = gitrefs.merge_base(repo, gitrefs.target_ref(repo, config.remote, config.target_branch), config.since)
    old_meta = gitrefs.chart_at_ref(repo, base, chart)
    if old_meta is None:
        return None
    new_version = str((load_yaml((chart / "Chart.yaml").read_text()) or {}).get("version"))
    if not semver.non_breaking(str(old_meta.get("version")), new_version):
        return None
    return gitrefs.export_chart(repo, base, chart, tmp)


def install(repo: Path, config: CtConfig, opts: InstallOptions, out: Callable[[str], None] = print) -> bool:
    charts, base = selected_charts(repo, config)
    if not announce(charts, repo, out):
        return True
    all_ok = True
    for chart in charts:
        version = (load_yaml((chart / "Chart.yaml").read_text()) or {}).get("version", "?")
        results = install_chart(repo, chart, base, config, opts, out)
        bad = [r for r in results if not r.ok]
        all_ok &= not bad
        mark = "✖︎" if bad else "✔︎"
        suffix = f" > failed with {', '.join(r.values for r in bad)}" if bad else ""
        out(f'{mark} {chart.name} => (version: "{version}", path: "{chart.relative_to(repo)}"){suffix}')
    return all_ok
