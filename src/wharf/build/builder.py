"""Building the Python s2i builder images (``invoke build-builders``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import wharf
from wharf.build.config import Network, git_info
from wharf.build.dockerfile import pinned_dockerfile

ROOT = Path(__file__).resolve().parents[3]
BUILDER_DIR = ROOT / "builders" / "python"
HOOKS_DIR = ROOT / "hooks"
BUILDER_REPO = "wharf/python-builder"
PYTHON_VERSIONS = ("3.11", "3.12")
DEFAULT_PYTHON = "3.12"
# Fixed zip timestamps: the same Wharf source gives the same wheel bytes, so docker's layer cache
# holds across rebuilds of an unchanged checkout.
SOURCE_DATE_EPOCH = "1700000000"


def builder_version() -> str:
    return wharf.__version__


def builder_tags(python: str, version: str | None = None) -> list[str]:
    """``wharf/python-builder:<ver>-py3.12`` always, and ``:<ver>`` for the default Python."""
    version = version or builder_version()
    tags = [f"{BUILDER_REPO}:{version}-py{python}"]
    if python == DEFAULT_PYTHON:
        tags.append(f"{BUILDER_REPO}:{version}")
    return tags


def build_wharf_wheel(dest: Path) -> Path:
    env = dict(os.environ, SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH)
    # Built from a copy: pip builds in-tree, and the checkout must not get build/ debris.
    tree = dest / "tree"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, tree / name)
    shutil.copytree(ROOT / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dest), str(tree)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    wheels = sorted(dest.glob("wharf_ml-*.whl"))
    if proc.returncode != 0 or not wheels:
        raise RuntimeError(f"building the Wharf wheel from {ROOT} failed:\n{proc.stdout}{proc.stderr}")
    return wheels[-1]


def _hooks_filter(info):
    return None if "__pycache__" in info.name or info.name.endswith(".pyc") else info


def build_builder(
    python: str = DEFAULT_PYTHON,
    base_image: str | None = None,
    network: Network | None = None,
    progress: Callable[[str], None] | None = print,
) -> list[str]:
    """Build and tag the builder for ``python``; returns its tags. Tags only after a start-up check."""
    from wharf.build.base import ensure_python_base
    from wharf.build.engine import build_image, context_tar, docker_client, tag_image

    if python not in PYTHON_VERSIONS and base_image is None:
        raise ValueError(f"python {python!r}: expected one of {', '.join(PYTHON_VERSIONS)} (or pass base_image)")
    base = base_image or ensure_python_base(python)
    network = network or Network.from_env()
    git = git_info(ROOT)
    dockerfile = (BUILDER_DIR / "Dockerfile").read_text()
    args = {
        "BUILDER_VERSION": builder_version(),
        "WHARF_VERSION": wharf.__version__,
        "SOURCE_REVISION": git.get("commit", "unknown") + ("-dirty" if git.get("dirty") == "true" else ""),
    }
    dockerfile = pinned_dockerfile(dockerfile, {"BASE_IMAGE": base, **args})
    with tempfile.TemporaryDirectory(prefix="wharf-wheel-") as tmp:
        wheel = build_wharf_wheel(Path(tmp))
        files = {
            "Dockerfile": dockerfile.encode(),
            f"wheels/{wheel.name}": wheel.read_bytes(),
            **network.context_files(),
        }
        for script in sorted((BUILDER_DIR / "s2i" / "bin").iterdir()):
            files[f"s2i/bin/{script.name}"] = script
        context = context_tar(files, dirs=[(HOOKS_DIR, "hooks", _hooks_filter)])
    client = docker_client()
    image_id = build_image(client, context, label=f"python builder {python}", progress=progress)
    # The builder must at least start and print its usage as UID 1001 before it gets a tag.
    out = client.containers.run(image_id, remove=True, user="1001:0").decode()
    if "invoke build" not in out:
        raise RuntimeError(f"the new builder image {image_id[:19]} did not print its usage: {out[:500]}")
    tags = builder_tags(python)
    for tag in tags:
        tag_image(client, image_id, tag)
    return tags


def ensure_builder(python: str = DEFAULT_PYTHON) -> str:
    """The builder's tag, building it only if the engine does not have it."""
    import docker.errors

    from wharf.build.engine import docker_client

    tag = builder_tags(python)[0]
    try:
        docker_client().images.get(tag)
    except docker.errors.ImageNotFound:
        build_builder(python)
    return tag
