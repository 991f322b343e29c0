"""Push images (``docker push``) and charts (``helm package`` + ``helm push``) to an OCI registry.

Each push returns the digest the registry stored, so a caller can pin by digest. Loopback registries
(127.0.0.0/8) speak plain HTTP: dockerd allows that for them by default, and helm needs
``--plain-http``, which ``plain_http`` adds for such an address.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


class PublishError(RuntimeError):
    """A push or package step failed; the message names the step and carries the tool's own output."""


def is_loopback(registry: str) -> bool:
    host = registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry
    return host == "localhost" or host.startswith("127.")


def run(cmd: list[str], what: str, timeout: float = 900) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise PublishError(f"{what}: timed out after {timeout:.0f} s") from None
    if done.returncode != 0:
        raise PublishError(f"{what} failed:\n{(done.stderr or done.stdout).strip()[-2000:]}")
    return done.stdout + done.stderr


def push_image(local: str, registry: str, repository: str, tag: str) -> str:
    """Tag ``local`` as ``registry/repository:tag``, push it, and return the manifest digest."""
    target = f"{registry}/{repository}:{tag}"
    run(["docker", "tag", local, target], f"docker tag {local} {target}", 60)
    out = run(["docker", "push", target], f"docker push {target}")
    # the last line: "<tag>: digest: sha256:... size: N"
    found = DIGEST.findall(out)
    if not found:
        raise PublishError(f"docker push {target} printed no digest:\n{out[-1000:]}")
    return found[-1]


def package_chart(helm: Path, chart: Path, dest: Path, version: str = "", app_version: str = "") -> Path:
    """``helm package`` ``chart`` into ``dest``; the archive's path."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [str(helm), "package", str(chart), "--destination", str(dest)]
    if version:
        cmd += ["--version", version]
    if app_version:
        cmd += ["--app-version", app_version]
    out = run(cmd, f"helm package {chart.name}", 120)
    # "Successfully packaged chart and saved it to: /dest/wharf-core-0.3.1.tgz"
    path = Path(out.strip().splitlines()[-1].split(": ", 1)[-1].strip())
    if not path.is_file():
        raise PublishError(f"helm package {chart.name} wrote no archive where it said:\n{out}")
    return path


def push_chart(helm: Path, archive: Path, registry: str, namespace: str = "charts") -> str:
    """``helm push`` ``archive`` to ``oci://registry/namespace``; the chart's manifest digest."""
    cmd = [str(helm), "push", str(archive), f"oci://{registry}/{namespace}"]
    if is_loopback(registry):
        cmd.append("--plain-http")
    out = run(cmd, f"helm push {archive.name}", 300)
    found = DIGEST.findall(out)
    if not found:
        raise PublishError(f"helm push {archive.name} printed no digest:\n{out[-1000:]}")
    return found[-1]
