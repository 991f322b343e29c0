"""What `invoke release` runs (tasks.py only parses options): returns an exit code."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

Out = Callable[[str], None]
REGISTRY = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
VERSION = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$")


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=30)
    return done.stdout.strip() if done.returncode == 0 else ""


def release_images(build: bool, out: Out):
    """Every image Wharf ships (operator, orchestrator, prepackaged servers, storage initializer),
    built first when ``build``."""
    from wharf.build.service_images import OPERATOR, ORCHESTRATOR, SERVER_IMAGES, build_service_image
    from wharf.release.publish import Image

    images = []
    for spec in (OPERATOR, ORCHESTRATOR, *SERVER_IMAGES):
        if build:
            out(f"building {spec.tag}")
            build_service_image(spec, None, progress=None)
        images.append(Image(spec.tag, spec.repo))
    return images


def release_command(
    repo: Path,
    registry: str,
    version: str,
    out_dir: str,
    force: bool,
    build: bool,
    source: str = "",
    out: Out = print,
    syft: Callable[[], Path] | None = None,
) -> int:
    """``syft`` gives the binary that writes each image's SBOM (tasks.py builds it, which can take long: it
    is called only once the flags are valid); None: no SBOMs."""
    import wharf
    from wharf.charts.helm import HelmUnavailable, ensure_helm
    from wharf.charts.validate import find_charts
    from wharf.release.oci import PublishError
    from wharf.release.pin import PinError
    from wharf.release.publish import ReleaseOptions, ReleaseRefused, release

    version = version or wharf.__version__
    if not registry:
        out("error: --registry HOST[:PORT] is required")
        return 2
    if not REGISTRY.match(registry):
        out(f"error: --registry {registry!r} is not HOST[:PORT]")
        return 2
    if not VERSION.match(version):
        out(f"error: --version {version!r} is not a semantic version (X.Y.Z[-pre])")
        return 2
    opts = ReleaseOptions(
        registry,
        version,
        Path(out_dir or repo / "dist" / version),
        force=force,
        revision=_git(repo, "rev-parse", "HEAD"),
        source=source or _git(repo, "remote", "get-url", "origin"),
    )
    try:
        helm = ensure_helm()
        syft_binary = syft() if syft is not None else None
        images = release_images(build, out)
        release(repo, opts, images, find_charts([repo / "charts"]), helm, out, syft=syft_binary)
    except ReleaseRefused as exc:
        out(f"refused: {exc}")
        return 1
    except (HelmUnavailable, PublishError, PinError, RuntimeError) as exc:
        out(f"error: {exc}")
        return 1
    return 0
