"""A virtualenv holding NVIDIA's ``tritonclient[grpc,http]``, the V2 client Wharf's V2 tests call with.

Why not Wharf's own venv: tritonclient's gRPC stubs need protobuf >= 6.30, while Wharf's stub
generator (grpcio-tools 1.71, the ``test`` extra) pins protobuf 5; the HTTP client alone is in the
``test`` extra. :func:`tritonclient_python` creates the venv once at
``~/.cache/wharf/tritonclient-2.73.0-venv`` (``WHARF_TRITONCLIENT_VENV`` points at another ready
one) and returns its python; tests run client scripts with it as separate processes. MLServer
has its venv of its own (``wharf.testing.mlserver``). Only the standard library is used.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

TRITONCLIENT_VERSION = "2.73.0"
REQUIREMENTS = (f"tritonclient[grpc,http]=={TRITONCLIENT_VERSION}",)
_MARKER = ".wharf-tritonclient-ok"


def default_venv_dir() -> Path:
    env = os.environ.get("WHARF_TRITONCLIENT_VENV")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "wharf" / f"tritonclient-{TRITONCLIENT_VERSION}-venv"


def tritonclient_python() -> Path:
    """The python of a venv with tritonclient's gRPC and HTTP clients, created on first use. Idempotent."""
    venv_dir = default_venv_dir()
    python = venv_dir / "bin" / "python"
    if python.exists() and ((venv_dir / _MARKER).exists() or os.environ.get("WHARF_TRITONCLIENT_VENV")):
        return python
    if not python.exists():
        print(f"[wharf.tritonclient] creating {venv_dir}", file=sys.stderr, flush=True)
        venv_dir.parent.mkdir(parents=True, exist_ok=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", *REQUIREMENTS], check=True
    )
    check = subprocess.run(
        [str(python), "-c", "import tritonclient.grpc, tritonclient.http"], check=False, capture_output=True, text=True
    )
    if check.returncode != 0:
        raise RuntimeError(f"tritonclient did not install in {venv_dir}: {check.stderr.strip()[-2000:]}")
    (venv_dir / _MARKER).write_text("\n".join(REQUIREMENTS) + "\n")
    return python


if __name__ == "__main__":  # pragma: no cover - `python -m wharf.testing.tritonclient` prepares the venv
    print(tritonclient_python())
