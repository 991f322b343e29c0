"""`invoke validate`: values against schemas, rendered manifests against Kubernetes/CRD schemas and security rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wharf.charts.manifests import DEFAULT_KUBE_VERSION, Finding, check_document, crd_schemas
from wharf.charts.render import RenderError, helm_template
from wharf.charts.values_check import Problem, check_values_file

# Monitoring CRDs the charts may render (PodMonitor); template against a cluster that has them.
EXTRA_API_VERSIONS = ["monitoring.coreos.com/v1", "monitoring.coreos.com/v1/PodMonitor"]


@dataclass
class Report:
    chart: str
    values_problems: list[Problem] = field(default_factory=list)
    render_errors: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    rendered: int = 0

    @property
    def ok(self) -> bool:
        return not (self.values_problems or self.render_errors or self.findings)

    def lines(self) -> list[str]:
        return [*map(str, self.values_problems), *self.render_errors, *map(str, self.findings)]


def ci_values_files(chart_dir: Path) -> list[Path]:
    return sorted((chart_dir / "ci").glob("*-values.yaml"))


def find_charts(chart_dirs: list[Path]) -> list[Path]:
    return sorted(d for base in chart_dirs for d in base.iterdir() if (d / "Chart.yaml").is_file())


def sdep_crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    from wharf.deployment.crd import crd

    return crd_schemas(crd())


def validate_chart(
    chart_dir: Path, values_files: list[Path] | None = None, kube_version: str = DEFAULT_KUBE_VERSION
) -> Report:
    """Validate ``chart_dir`` with each values file (default: its ci/*-values.yaml, else its defaults)."""
    report = Report(chart_dir.name)
    files: list[Path | None] = list(values_files if values_files is not None else ci_values_files(chart_dir)) or [None]
    schemas = sdep_crd_schemas()
    for values in files:
        problems = check_values_file(chart_dir, values)
        report.values_problems += problems
        if problems:
            continue  # helm would refuse these values too; rendering adds nothing
        try:
            docs = helm_template(
                chart_dir, [values] if values else [], kube_version=kube_version, api_versions=EXTRA_API_VERSIONS
            )
        except RenderError as exc:
            report.render_errors.append(f"{values or chart_dir / 'values.yaml'}: helm template failed: {exc}")
            continue
        report.rendered += len(docs)
        # CRDs rendered by the chart itself (wharf-core) validate their own custom resources too.
        local = dict(schemas)
        for item in docs:
            if item.doc.get("kind") == "CustomResourceDefinition":
                local.update(crd_schemas(item.doc))
        label = f" with {values.name}" if values else ""
        for item in docs:
            report.findings += check_document(item.doc, f"{item.source}{label}", kube_version, local)
    return report
