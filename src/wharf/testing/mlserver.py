"""A virtualenv holding a real MLServer 1.7.1 (Apache-2.0), for tests and benchmarks that compare
Wharf's V2 (Open Inference Protocol) with it or put it behind Wharf's orchestrator.

MLServer is never a dependency of Wharf: it pins its own FastAPI, uvicorn, pydantic and protobuf.
:func:`mlserver_venv` creates the venv once at ``~/.cache/wharf/mlserver-1.7.1-venv`` (the same
path for every user of it) with ``mlserver`` and ``mlserver-sklearn`` and returns its ``bin/``.
``WHARF_MLSERVER_VENV`` points at another ready venv instead. Only the standard library is used.
"""

from __future__ import annotations

from pathlib import Path

from wharf.testing.tool_venv import ToolVenv

MLSERVER_VERSION = "1.7.1"
# httptools: MLServer's uvicorn takes it when installed (its fastest HTTP parser; MLServer installs
# uvloop itself), so the benchmark measures MLServer at its best (benchmarks/bench_v2.py).
MLSERVER = ToolVenv(
    folder=f"mlserver-{MLSERVER_VERSION}-venv",
    requirements=(f"mlserver=={MLSERVER_VERSION}", f"mlserver-sklearn=={MLSERVER_VERSION}", "httptools==0.9.0"),
    check=f"import importlib.metadata as m; assert m.version('mlserver') == {MLSERVER_VERSION!r}",
    env_override="WHARF_MLSERVER_VENV",
)


def mlserver_venv() -> Path:
    """The ``bin/`` folder of a venv with MLServer 1.7.1 (``bin/mlserver``), created on first use."""
    return MLSERVER.bin()


if __name__ == "__main__":  # pragma: no cover - `python -m wharf.testing.mlserver` prepares the venv
    print(mlserver_venv())
