"""A real OCI registry on loopback for tests: Debian's ``docker-registry`` (CNCF distribution 2.8).

It serves container images (``docker push 127.0.0.1:PORT/...``: dockerd treats registries on
127.0.0.0/8 as insecure by default, so plain HTTP needs no daemon configuration) and OCI artifacts
such as Helm charts (``helm push ... oci://127.0.0.1:PORT/charts --plain-http``). Each run has its
own port, its own storage directory and its own config file, and is stopped by its pid; nothing of
the package's system service is used (``.ci/run`` installs the package; its service is never started).
"""

from __future__ import annotations

import secrets
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from wharf.local.process import free_port, serving

BINARY = "docker-registry"
INSTALL_HINT = "install Debian's docker-registry package (apt-get install docker-registry; .ci/run does)"


class RegistryUnavailable(RuntimeError):
    """The registry program is missing or did not start (the message says which and how to fix it)."""


@dataclass(frozen=True)
class Registry:
    host: str
    port: int
    pid: int
    storage: Path

    @property
    def address(self) -> str:
        """``host:port``, the registry part of an image reference."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"


def registry_binary() -> Path:
    found = shutil.which(BINARY)
    if found is None:
        raise RegistryUnavailable(f"{BINARY} is not installed; {INSTALL_HINT}")
    return Path(found)


def config_text(host: str, port: int, storage: Path) -> str:
    # delete.enabled lets a test remove what it pushed; the debug server is left off (it would take
    # a second port); the upload purger would only touch this run's own directory anyway.
    return (
        f"version: 0.1\n"
        f"log:\n  level: warn\n  accesslog:\n    disabled: true\n"
        f"storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: {host}:{port}\n  secret: {secrets.token_hex(16)}\n"
    )


@contextmanager
def oci_registry(workdir: Path, host: str = "127.0.0.1", timeout: float = 30.0) -> Iterator[Registry]:
    """Run a registry on ``host``:<free port>, storage and log under ``workdir``; stopped by pid on exit."""
    exe = registry_binary()
    port = free_port(host)
    storage = workdir / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    config = workdir / "config.yml"
    config.write_text(config_text(host, port, storage))
    # A start that fails raises RuntimeError("docker-registry did not start; log: ...").
    with serving(
        [str(exe), "serve", str(config)],
        workdir / "registry.log",
        f"http://{host}:{port}/v2/",
        "docker-registry",
        timeout,
    ) as proc:
        yield Registry(host, port, proc.pid, storage)


def main() -> int:  # pragma: no cover - provisioning check for .ci/run and people
    try:
        print(registry_binary())
    except RegistryUnavailable as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
