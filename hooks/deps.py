"""Installing a model folder's dependencies, first match wins (as the upstream builder):
``requirements.txt``, then ``setup.py`` / ``pyproject.toml`` (the folder is installed as a
package), then ``environment.yml`` (conda; a clear error when conda is absent).

Everything goes into a separate prefix (``/opt/app-root/deps`` in the image) so the builder's own
environment stays untouched and the dependency layer can be cached apart from the code.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

WHEEL_DIR = Path("/whl")  # upstream's `s2i build -i <wheels>:/whl` convention for local wheels


class DependencyError(RuntimeError):
    pass


@dataclass(frozen=True)
class Plan:
    kind: str  # "requirements", "package", "conda" or "none"
    file: str | None


def plan(files: set[str]) -> Plan:
    """Which dependency file wins, given the names of the files at the top of the folder."""
    for name, kind in (
        ("requirements.txt", "requirements"),
        ("setup.py", "package"),
        ("pyproject.toml", "package"),
        ("environment.yml", "conda"),
        ("environment.yaml", "conda"),
    ):
        if name in files:
            return Plan(kind, name)
    return Plan("none", None)


def pip_command(p: Plan, prefix: str, env: dict[str, str], find_links: bool) -> list[str]:
    """The pip command line for a plan (pure). Index settings come from the s2i environment."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--no-cache-dir",
        "--disable-pip-version-check",
        "--no-warn-script-location",
        "--prefix",
        prefix,
    ]
    if env.get("EXTRA_INDEX_URL"):
        cmd += ["--extra-index-url", env["EXTRA_INDEX_URL"]]
    for host in env.get("PIP_TRUSTED_HOST", "").split():
        cmd += ["--trusted-host", host]
    if find_links:
        cmd += ["--find-links", str(WHEEL_DIR)]
    return cmd + (["-r", p.file] if p.kind == "requirements" else ["."])


def install(source: Path, prefix: str, env: dict[str, str] | None = None) -> Plan:
    env = dict(os.environ if env is None else env)
    p = plan({f.name for f in source.iterdir() if f.is_file()})
    if p.kind == "none":
        print("wharf-hook: no requirements.txt, setup.py, pyproject.toml or environment.yml: nothing to install")
        return p
    if p.kind == "conda":
        conda = shutil.which("conda")
        if conda is None:
            raise DependencyError(
                f"{p.file}: this builder has no conda, so a conda environment file cannot be installed; "
                "list the packages in requirements.txt instead (pip), or use a builder whose base image has conda"
            )
        cmd = [conda, "env", "create", "--name", env.get("CONDA_ENV_NAME", "microservice"), "--file", p.file]
    else:
        cmd = pip_command(p, prefix, env, WHEEL_DIR.is_dir())
    print(f"wharf-hook: installing dependencies from {p.file}", flush=True)
    proc = subprocess.run(cmd, cwd=source, env=env)
    if proc.returncode != 0:
        raise DependencyError(
            f"{p.file}: installing the dependencies failed (pip exit {proc.returncode}); "
            "see the pip output above for the package at fault"
        )
    return p
