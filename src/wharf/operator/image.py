"""Build the operator image (builders/operator/Dockerfile) with the same machinery as the builders.

Tagged only after a start-up check as UID 1001 with a read-only root filesystem.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable

import wharf

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / "builders" / "operator" / "Dockerfile"
REPO = "wharf/operator"


def build_operator_image(base_image: str | None = None, progress: Callable[[str], None] | None = print) -> str:
    from wharf.build.base import ensure_python_base
    from wharf.build.builder import build_wharf_wheel
    from wharf.build.config import Network
    from wharf.build.engine import build_image, context_tar, docker_client, tag_image

    base = base_image or ensure_python_base("3.12")
    dockerfile = DOCKERFILE.read_text()
    for name, value in {"BASE_IMAGE": base, "WHARF_VERSION": wharf.__version__}.items():
        dockerfile = dockerfile.replace(f"ARG {name}=", f"ARG {name}={value}\n# upstream default: ", 1)
    with tempfile.TemporaryDirectory(prefix="wharf-wheel-") as tmp:
        wheel = build_wharf_wheel(Path(tmp))
        files = {"Dockerfile": dockerfile.encode(), f"wheels/{wheel.name}": wheel.read_bytes(),
                 **Network.from_env().context_files()}
        context = context_tar(files)
    client = docker_client()
    image_id = build_image(client, context, label="operator", progress=progress)
    out = client.containers.run(image_id, entrypoint=["wharf", "render", "--help"], remove=True, user="1001:0",
                                read_only=True).decode()
    if "usage: wharf render" not in out:
        raise RuntimeError(f"the new operator image {image_id[:19]} did not start: {out[:500]}")
    tag = f"{REPO}:{wharf.__version__}"
    tag_image(client, image_id, tag)
    return tag
