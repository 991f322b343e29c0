"""A real S3 API on loopback for tests: moto's server mode, from its own virtualenv.

moto (and the boto3 it needs) pins ``python-dateutil<3``; the project venv carries the kubernetes
client with a newer one, so moto lives in ``~/.cache/wharf/moto-<version>/`` and runs as a
separate process, the way a real object store would. Wharf talks to it with its own S3 client.

``python -m wharf.testing.s3`` creates the venv (``.ci/run`` does this before the tests).
"""

from __future__ import annotations

import subprocess
import sys
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from wharf.local.process import free_port, serving

MOTO_VERSION = "5.2.5"
_MARKER = ".wharf-moto-ok"


def venv_dir() -> Path:
    return Path.home() / ".cache" / "wharf" / f"moto-{MOTO_VERSION}"


def moto_server_bin() -> Path | None:
    """The ``moto_server`` of a ready venv, or None when it was not made yet."""
    exe = venv_dir() / "bin" / "moto_server"
    return exe if exe.exists() and (venv_dir() / _MARKER).exists() else None


def ensure_moto() -> Path:
    """Create the moto venv if missing (idempotent) and return its ``moto_server``."""
    ready = moto_server_bin()
    if ready:
        return ready
    root = venv_dir()
    venv.EnvBuilder(with_pip=True, clear=True).create(root)
    subprocess.run(
        [
            str(root / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            f"moto[server]=={MOTO_VERSION}",
        ],
        check=True,
    )
    (root / _MARKER).write_text(f"moto[server]=={MOTO_VERSION}\n")
    return root / "bin" / "moto_server"


@contextmanager
def s3_server(log_file: Path, host: str = "127.0.0.1", timeout: float = 60.0) -> Iterator[str]:
    """Run ``moto_server`` on ``host`` and yield its endpoint URL; stopped (by pid) on exit.

    Loopback by default; a test whose containers must reach it passes the Docker bridge's gateway
    address, which only this machine and its containers can reach.
    """
    exe = moto_server_bin()
    if exe is None:
        raise FileNotFoundError("moto is not installed; run `python -m wharf.testing.s3`")
    port = free_port(host)
    endpoint = f"http://{host}:{port}"
    with serving([str(exe), "-H", host, "-p", str(port)], log_file, f"{endpoint}/moto-api/", "moto_server", timeout):
        yield endpoint


def main() -> int:  # pragma: no cover - provisioning CLI
    print(ensure_moto())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
