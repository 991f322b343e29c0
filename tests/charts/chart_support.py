"""Paths and parametrisation cases shared by the chart tests."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHARTS = ROOT / "charts"
CHART_NAMES = sorted(p.name for p in CHARTS.iterdir() if (p / "Chart.yaml").is_file())
CI_CASES = [(c, f.name) for c in CHART_NAMES for f in sorted((CHARTS / c / "ci").glob("*-values.yaml"))]
