"""A virtualenv holding a real MLServer 1.7.1 (Apache-2.0), for tests and benchmarks that compare
Wharf's V2 (Open Inference Protocol) with it or put it behind Wharf's orchestrator.

MLServer is never a dependency of Wharf: it pins its own FastAPI, uvicorn, pydantic and protobuf.
:func:`mlserver_venv` creates the venv once at ``~/.cache/wharf/mlserver-1.7.1-venv`` (the same
path for every user of it) with ``mlserver`` and ``mlserver-sklearn`` and returns its ``bin/``.
``WHARF_MLSERVER_VENV`` points at another ready venv instead. Only the standard library is used.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

MLSERVER_VERSION = "1.7.1"
# httptools: MLServer's uvicorn takes it when installed (its fastest HTTP parser; MLServer installs
# uvloop itself), so the benchmark measures MLServer at its best (benchmarks/bench_v2.py).
REQUIREMENTS = (f"mlserver=={MLSERVER_VERSION}", f"mlserver-sklearn=={MLSERVER_VERSION}", "httptools==0.9.0")
_MARKER = ".wharf-mlserver-ok"


def default_venv_dir() -> Path:
    env = os.environ.get("WHARF_MLSERVER_VENV")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "wharf" / f"mlserver-{MLSERVER_VERSION}-venv"


def mlserver_venv() -> Path:
    """The ``bin/`` folder of a venv with MLServer 1.7.1 (``bin/mlserver``), created on first use.

    Idempotent: once the marker file lists REQUIREMENTS nothing runs. A half-made venv (an install
    that was interrupted), or one made for other requirements, is completed, not trusted.
    """
    venv_dir = default_venv_dir()
    bindir = venv_dir / "bin"
    marker = venv_dir / _MARKER
    if marker.exists() and marker.read_text().split() == list(REQUIREMENTS) and (bindir / "mlserver").exists():
        return bindir
    if os.environ.get("WHARF_MLSERVER_VENV") and (bindir / "mlserver").exists():
        return bindir  # a venv someone else made: trusted when it has the command
    python = bindir / "python"
    if not python.exists():
        print(f"[wharf.mlserver] creating {venv_dir}", file=sys.stderr, flush=True)
        venv_dir.parent.mkdir(parents=True, exist_ok=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", *REQUIREMENTS], check=True
    )
    check = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('mlserver'))"],
        check=False,
        capture_output=True,
        text=True,
    )
    if check.returncode != 0 or check.stdout.strip() != MLSERVER_VERSION:
        raise RuntimeError(f"MLServer {MLSERVER_VERSION} did not install in {venv_dir}: {check.stderr.strip()}")
    (venv_dir / _MARKER).write_text("\n".join(REQUIREMENTS) + "\n")
    return bindir


if __name__ == "__main__":  # pragma: no cover - `python -m wharf.testing.mlserver` prepares the venv
    print(mlserver_venv())
