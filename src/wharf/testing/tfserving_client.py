"""A virtualenv with ``tensorflow-serving-api`` 2.21.0, TF Serving's own generated client stubs,
for tests that call Wharf's orchestrator in protocol ``tensorflow`` as TF Serving's users do.

Why a venv of its own: the stubs import TensorFlow's generated messages (``tensorflow.core...``),
so the package requires TensorFlow itself (about 600 MB installed) and protobuf 6; Wharf's test
venv pins protobuf 5 for its stub generator. :func:`tfserving_client_venv` creates the venv once at
``~/.cache/wharf/tfserving-api-2.21.0-venv`` and returns its ``bin/``. Only the standard library is used.
"""

from __future__ import annotations

from pathlib import Path

from wharf.testing.tool_venv import ToolVenv

VERSION = "2.21.0"
TFSERVING_API = ToolVenv(
    folder=f"tfserving-api-{VERSION}-venv",
    requirements=(f"tensorflow-serving-api=={VERSION}",),
    check="from tensorflow_serving.apis import predict_pb2, model_service_pb2_grpc",
)


def tfserving_client_venv() -> Path:
    """The ``bin/`` of a venv where ``import tensorflow_serving.apis`` works, created on first use."""
    return TFSERVING_API.bin()


if __name__ == "__main__":  # pragma: no cover - `python -m wharf.testing.tfserving_client` prepares the venv
    print(tfserving_client_venv())
