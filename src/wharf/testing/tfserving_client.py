"""A virtualenv with ``tensorflow-serving-api`` 2.21.0, TF Serving's own generated client stubs,
for tests that call Wharf's orchestrator in protocol ``tensorflow`` as TF Serving's users do.

Why a venv of its own: the stubs import TensorFlow's generated messages (``tensorflow.core...``),
so the package requires TensorFlow itself (about 600 MB installed) and protobuf 6; Wharf's test
venv pins protobuf 5 for its stub generator. :func:`tfserving_client_venv` creates the venv once at
``~/.cache/wharf/tfserving-api-2.21.0-venv`` and returns its ``bin/``. Only the standard library is used.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

VERSION = "2.21.0"
REQUIREMENT = f"tensorflow-serving-api=={VERSION}"
_MARKER = ".wharf-tfserving-api-ok"


def tfserving_client_venv() -> Path:
    """The ``bin/`` of a venv where ``import tensorflow_serving.apis`` works, created on first use."""
    venv_dir = Path.home() / ".cache" / "wharf" / f"tfserving-api-{VERSION}-venv"
    bindir = venv_dir / "bin"
    if (venv_dir / _MARKER).exists():
        return bindir
    python = bindir / "python"
    if not python.exists():
        print(f"[wharf.tfserving_client] creating {venv_dir}", file=sys.stderr, flush=True)
        venv_dir.parent.mkdir(parents=True, exist_ok=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
    subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", REQUIREMENT], check=True)
    check = subprocess.run(
        [str(python), "-c", "from tensorflow_serving.apis import predict_pb2, model_service_pb2_grpc"],
        check=False,
        capture_output=True,
        text=True,
    )
    if check.returncode != 0:
        raise RuntimeError(f"{REQUIREMENT} did not install in {venv_dir}: {check.stderr.strip()[-2000:]}")
    (venv_dir / _MARKER).write_text(REQUIREMENT + "\n")
    return bindir


if __name__ == "__main__":  # pragma: no cover
    print(tfserving_client_venv())
