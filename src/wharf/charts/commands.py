"""What the invoke tasks run (tasks.py only parses options): each returns an exit code."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from wharf.charts.ctconfig import ConfigError, load_config
from wharf.charts.validate import find_charts, validate_chart
from wharf.charts.values_schema import ValuesSourceError, chart_schema

Out = Callable[[str], None]


def _charts(repo: Path, names: str) -> list[Path]:
    every = find_charts([repo / "charts"])
    if not names:
        return every
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in {c.name for c in every}]
    if unknown:
        raise ConfigError(f"unknown chart(s) {', '.join(unknown)} (have: {', '.join(c.name for c in every)})")
    return [c for c in every if c.name in wanted]


def schema_command(repo: Path, check: bool = False, out: Out = print) -> int:
    """Regenerate each chart's values.schema.json from its values.yaml (or, with check, report drift)."""
    stale = []
    for chart in find_charts([repo / "charts"]):
        try:
            text = chart_schema(chart)
        except ValuesSourceError as exc:
            out(f"error: {exc}")
            return 2
        target = chart / "values.schema.json"
        if target.is_file() and target.read_text() == text:
            continue
        if check:
            stale.append(str(target.relative_to(repo)))
        else:
            target.write_text(text)
            out(f"wrote {target.relative_to(repo)}")
    if stale:
        out(f"out of date: {', '.join(stale)}; run `invoke charts.schema`")
        return 1
    if check:
        out("values schemas up to date")
    return 0


def validate_command(
    repo: Path, charts: str = "", values: str = "", kube_version: str = "1.32.0", out: Out = print
) -> int:
    """Validate values files and rendered manifests; with ``values`` (comma list) only those files."""
    try:
        selected = _charts(repo, charts)
    except ConfigError as exc:
        out(f"error: {exc}")
        return 2
    files = [Path(v) for v in values.split(",") if v] if values else None
    if files and len(selected) != 1:
        out("error: --values needs exactly one --chart")
        return 2
    missing = [str(f) for f in files or [] if not f.is_file()]
    if missing:
        out(f"error: no such values file: {', '.join(missing)}")
        return 2
    ok = True
    for chart in selected:
        report = validate_chart(chart, files, kube_version)
        if report.ok:
            out(
                f"✔︎ {chart.name}: {report.rendered} manifests valid (Kubernetes {kube_version}, CRD schema, security rules)"
            )
        else:
            ok = False
            out(f"✖︎ {chart.name}:")
            for line in report.lines():
                out(f"    {line}")
    return 0 if ok else 1


def lint_command(repo: Path, flags: dict, config_file: str | None = None, out: Out = print) -> int:
    from wharf.charts.gitrefs import GitError
    from wharf.charts.lint import lint

    try:
        config = load_config(repo, config_file, flags)
        return 0 if lint(repo, config, out) else 1
    except (ConfigError, GitError) as exc:
        out(f"error: {exc}")
        return 2


def ct_command(
    repo: Path,
    flags: dict,
    config_file: str | None = None,
    install: bool = False,
    wait: bool = True,
    tests: bool = True,
    kubeconfig: str | None = None,
    out: Out = print,
) -> int:
    """``ct lint`` (default) or ``ct install``."""
    from wharf.charts.ctinstall import InstallOptions
    from wharf.charts.ctinstall import install as run_install
    from wharf.charts.gitrefs import GitError

    if not install:
        return lint_command(repo, flags, config_file, out)
    try:
        config = load_config(repo, config_file, flags)
        opts = InstallOptions(kubeconfig=kubeconfig, wait=wait, run_tests=tests)
        return 0 if run_install(repo, config, opts, out) else 1
    except (ConfigError, GitError) as exc:
        out(f"error: {exc}")
        return 2
