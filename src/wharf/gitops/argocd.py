"""Argo CD's view of a SeldonDeployment: the Lua health check, its argocd-cm patch, and a runner.

The Lua lives in Argo's own layout under ``examples/gitops/argocd/resource_customizations/`` (so
it can be upstreamed as is); the ``argocd-cm`` patch a platform team applies is generated from it
(``invoke generate``) and a test fails when the two drift. ``run_health_check`` executes the
script with ``lupa`` in Lua 5.1 (Argo's gopher-lua dialect) with nothing but ``obj`` in scope:
stricter than any Argo CD setting, so what passes here runs there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
ARGOCD_DIR = ROOT / "examples" / "gitops" / "argocd"
CUSTOMIZATIONS = ARGOCD_DIR / "resource_customizations"
CM_PATCH = ARGOCD_DIR / "argocd-cm-health-patch.yaml"

# The kinds we ship a health check for, as (group, kind).
CHECKS = [("machinelearning.seldon.io", "SeldonDeployment"), ("argoproj.io", "Application")]


def health_script(group: str, kind: str) -> str:
    return (CUSTOMIZATIONS / group / kind / "health.lua").read_text()


class _Literal(str):
    """A string dumped as a YAML block literal (``|``), so the Lua stays readable in the ConfigMap."""


def _literal(dumper: yaml.SafeDumper, value: _Literal) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")


yaml.SafeDumper.add_representer(_Literal, _literal)


def cm_patch() -> str:
    """The argocd-cm strategic-merge patch holding every health check (key format from Argo's docs)."""
    data = {
        f"resource.customizations.health.{group}_{kind}": _Literal(health_script(group, kind)) for group, kind in CHECKS
    }
    doc = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "argocd-cm",
            "namespace": "argocd",
            "labels": {"app.kubernetes.io/name": "argocd-cm", "app.kubernetes.io/part-of": "argocd"},
        },
        "data": data,
    }
    header = "# Generated from resource_customizations/*/*/health.lua by `invoke generate`; do not edit.\n"
    return header + yaml.safe_dump(doc, sort_keys=False, width=120)


def run_health_check(obj: dict[str, Any], script: str) -> dict[str, str]:
    """Run an Argo CD health script on ``obj``: Lua 5.1, only ``obj`` in scope."""
    from lupa import lua51

    lua = lua51.LuaRuntime(unpack_returned_tuples=False)
    run = lua.eval("""
        function(source, obj)
          local chunk = assert(loadstring(source, "health.lua"))
          setfenv(chunk, {obj = obj})  -- no libraries at all
          return chunk()
        end""")
    result = run(script, lua.table_from(obj, recursive=True))
    return {"status": result["status"], "message": result["message"] or ""}
