"""A virtualenv holding NVIDIA's ``tritonclient[grpc,http]``, the V2 client Wharf's V2 tests call with.

Why not Wharf's own venv: tritonclient's gRPC stubs need protobuf >= 6.30, while Wharf's stub
generator (grpcio-tools 1.71, the ``test`` extra) pins protobuf 5; the HTTP client alone is in the
``test`` extra. :func:`tritonclient_python` creates the venv once at
``~/.cache/wharf/tritonclient-2.73.0-venv`` (``WHARF_TRITONCLIENT_VENV`` points at another ready
one) and returns its python; tests run client scripts with it as separate processes. MLServer
has its venv of its own (``wharf.testing.mlserver``). Only the standard library is used.
"""

from __future__ import annotations

from pathlib import Path

from wharf.testing.tool_venv import ToolVenv

TRITONCLIENT_VERSION = "2.73.0"
TRITONCLIENT = ToolVenv(
    folder=f"tritonclient-{TRITONCLIENT_VERSION}-venv",
    requirements=(f"tritonclient[grpc,http]=={TRITONCLIENT_VERSION}",),
    check="import tritonclient.grpc, tritonclient.http",
    env_override="WHARF_TRITONCLIENT_VENV",
)


def tritonclient_python() -> Path:
    """The python of a venv with tritonclient's gRPC and HTTP clients, created on first use."""
    return TRITONCLIENT.bin() / "python"


if __name__ == "__main__":  # pragma: no cover - `python -m wharf.testing.tritonclient` prepares the venv
    print(tritonclient_python())
