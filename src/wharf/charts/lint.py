"""ct-style ``lint``: per chart, in ct's order, stopping at the first failing step of a chart.

1. version bump vs the target branch (skipped with --all/--charts, as in ct)
2. Chart.yaml schema (ct's chart_schema.yaml) + our v2/kubeVersion conventions
3. yamllint on Chart.yaml, values.yaml and ci/*-values.yaml
4. maintainers (off unless validate-maintainers; no network check here)
5. additional-commands
6. helm lint, once per ci values file (or with defaults)
then Wharf's own steps:
7. values.schema.json is what values.yaml generates (drift), every key documented
8. values files vs schema, helm template, manifests vs Kubernetes/CRD schemas and security rules
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from wharf.charts import gitrefs, semver
from wharf.charts.chartfile import check_chart_yaml, check_maintainers
from wharf.charts.ctconfig import CtConfig
from wharf.charts.helm import ensure_helm
from wharf.charts.validate import ci_values_files, find_charts, validate_chart
from wharf.charts.values_schema import chart_schema, load_yaml, undocumented_keys


@dataclass
class StepResult:
    step: str
    problems: list[str] = field(default_factory=list)


@dataclass
class ChartResult:
    chart: Path
    version: str
    steps: list[StepResult] = field(default_factory=list)

    @property
    def failed(self) -> StepResult | None:
        return next((s for s in self.steps if s.problems), None)


def selected_charts(repo: Path, config: CtConfig) -> tuple[list[Path], str | None]:
    """Charts to process, and the git ref versions are compared with (None: no version check)."""
    if config.charts:
        return [repo / c for c in config.charts], None
    all_charts = [c for c in find_charts([repo / d for d in config.chart_dirs]) if c.name not in config.excluded_charts]
    if config.all:
        return all_charts, None
    base = gitrefs.merge_base(repo, gitrefs.target_ref(repo, config.remote, config.target_branch), config.since)
    return gitrefs.changed_charts(repo, base, config.chart_dirs, config.excluded_charts), base


def _version_step(repo: Path, chart: Path, base: str | None, config: CtConfig) -> list[str]:
    if base is None or not config.check_version_increment:
        return []
    old = gitrefs.chart_at_ref(repo, base, chart)
    if old is None:
        return []  # a new chart
    new = (load_yaml((chart / "Chart.yaml").read_text()) or {}).get("version", "")
    try:
        if semver.greater(str(new), str(old.get("version", ""))):
            return []
    except ValueError as exc:
        return [f"{chart / 'Chart.yaml'}: version: {exc}"]
    return [
        f"{chart / 'Chart.yaml'}: version: chart version not ok. Needs a version bump! "
        f"({old.get('version')} at {base[:12]} -> {new}; it must be greater)"
    ]


def _yamllint_step(repo: Path, chart: Path, lint_conf: Path) -> list[str]:
    from yamllint import linter
    from yamllint.config import YamlLintConfig

    conf = YamlLintConfig(file=str(lint_conf))
    problems = []
    for path in [chart / "Chart.yaml", chart / "values.yaml", *ci_values_files(chart)]:
        # ct runs yamllint from the repository root on paths like charts/x/values.yaml; the config's
        # `ignore` patterns are written for those, so they must see the same relative path.
        where = path.relative_to(repo).as_posix() if path.is_relative_to(repo) else str(path)
        for p in linter.run(path.read_text(), conf, where):
            if p.level == "error":
                problems.append(f"{path}:{p.line}:{p.column}: [{p.rule}] {p.desc}")
    return problems


def _helm_lint_step(chart: Path, config: CtConfig) -> list[str]:
    helm = str(ensure_helm())
    problems = []
    for values in ci_values_files(chart) or [None]:
        cmd = [
            helm,
            "lint",
            str(chart),
            "--kube-version",
            config.kube_version,
            *shlex.split(config.helm_lint_extra_args),
        ]
        if values:
            cmd += ["--values", str(values)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            detail = "\n    ".join(
                line
                for line in done.stdout.splitlines() + done.stderr.splitlines()
                if "[ERROR]" in line or "Error" in line
            )
            problems.append(f"helm lint {chart.name}{' with ' + values.name if values else ''} failed:\n    {detail}")
    return problems


def _schema_step(chart: Path) -> list[str]:
    problems = []
    schema_file = chart / "values.schema.json"
    if not schema_file.is_file() or schema_file.read_text() != chart_schema(chart):
        problems.append(f"{schema_file}: out of date with values.yaml; run `invoke charts.schema`")
    problems += [
        f"{chart / 'values.yaml'}: {key}: no `# --` description"
        for key in undocumented_keys((chart / "values.yaml").read_text())
    ]
    return problems


def lint_chart(repo: Path, chart: Path, base: str | None, config: CtConfig) -> ChartResult:
    version = str((load_yaml((chart / "Chart.yaml").read_text()) or {}).get("version", "?"))
    result = ChartResult(chart, version)
    lint_conf = repo / (config.lint_conf or ".yamllint.yaml")
    steps: list[tuple[str, Callable[[], list[str]]]] = [
        ("version-increment", lambda: _version_step(repo, chart, base, config)),
        (
            "chart-yaml-schema",
            lambda: [str(p) for p in check_chart_yaml(chart)] if config.validate_chart_schema else [],
        ),
        ("yamllint", lambda: _yamllint_step(repo, chart, lint_conf) if config.validate_yaml else []),
        ("maintainers", lambda: [str(p) for p in check_maintainers(chart)] if config.validate_maintainers else []),
        ("additional-commands", lambda: _additional(chart, config)),
        ("helm-lint", lambda: _helm_lint_step(chart, config)),
        ("values-schema", lambda: _schema_step(chart)),
        ("validate", lambda: validate_chart(chart, kube_version=config.kube_version).lines()),
    ]
    for name, run in steps:
        step = StepResult(name, run())
        result.steps.append(step)
        if step.problems:
            break
    return result


def _additional(chart: Path, config: CtConfig) -> list[str]:
    problems = []
    for template in config.additional_commands:
        command = template.replace("{{ .Path }}", str(chart)).replace("{{.Path}}", str(chart))
        done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            problems.append(f"`{command}` exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return problems


def announce(charts: list[Path], repo: Path, out: Callable[[str], None]) -> bool:
    """ct's header listing the charts to process; False (after saying so) when there are none."""
    if not charts:
        out("No chart changes detected.")
        return False
    out("Charts to be processed:\n" + "-" * 78)
    for chart in charts:
        out(f" {chart.name} => {chart.relative_to(repo)}")
    out("-" * 78)
    return True


def lint(repo: Path, config: CtConfig, out: Callable[[str], None] = print) -> bool:
    """Lint the selected charts; print ct-like output; True when every chart passed."""
    charts, base = selected_charts(repo, config)
    if not announce(charts, repo, out):
        return True
    results = []
    for chart in charts:
        result = lint_chart(repo, chart, base, config)
        results.append(result)
        failed = result.failed
        if failed:
            out(
                f'✖︎ {chart.name} => (version: "{result.version}", path: "{chart.relative_to(repo)}") > '
                f"step {failed.step} failed:"
            )
            for line in failed.problems:
                out(f"    {line}")
        else:
            out(f'✔︎ {chart.name} => (version: "{result.version}", path: "{chart.relative_to(repo)}")')
    return all(r.failed is None for r in results)
