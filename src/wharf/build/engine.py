"""The thin shell around the Docker engine: build a context tarball, tag, run, clean up.

Builds are untagged on purpose: the caller tags only after the image passed its checks, so a
failed build or failed smoke test leaves no tag behind (the untagged layers stay as build cache).
"""

from __future__ import annotations

import io
import re
import tarfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from wharf.build.progress import STEP


class BuildFailed(RuntimeError):
    """``docker build`` failed; the message carries the failing step and the end of its log."""

    def __init__(self, message: str, log: list[str]):
        super().__init__(message)
        self.log = log


def docker_client(timeout: int = 900):
    import docker

    return docker.from_env(timeout=timeout)


def context_tar(files: dict[str, bytes | Path], dirs: Iterable[tuple[Path, str, Callable | None]] = ()) -> io.BytesIO:
    """A build context: ``files`` maps archive names to bytes or host files; ``dirs`` adds trees."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, content in sorted(files.items()):
            data = content.read_bytes() if isinstance(content, Path) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755 if name.endswith(".sh") or "/bin/" in f"/{name}" else 0o644
            # A fixed mtime keeps the layer cache key a function of content alone.
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
        for path, arcname, keep in dirs:
            tar.add(path, arcname=arcname, filter=_reproducible(keep))
    buf.seek(0)
    return buf


def _reproducible(keep: Callable | None):
    def f(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        if keep is not None and keep(info) is None:
            return None
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    return f


_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # the engine colours a step's stderr red


def build_image(
    client: Any,
    context: IO[bytes],
    label: str,
    dockerfile: str = "Dockerfile",
    progress: Callable[[str], None] | None = None,
    **options: Any,
) -> str:
    """Build ``context`` (an uncompressed tar stream) and return the image id. Never tags.

    ``options`` go to the engine's build call as they are (``target``, ``buildargs``, ``labels``).
    """
    log: list[str] = []
    image_id = None
    last_step = ""
    for chunk in client.api.build(
        fileobj=context, custom_context=True, dockerfile=dockerfile, rm=True, forcerm=True, decode=True, **options
    ):
        if "stream" in chunk:
            for line in _ANSI.sub("", chunk["stream"]).splitlines():
                if not line.strip():
                    continue
                log.append(line)
                if STEP.match(line):
                    last_step = line
                if progress:
                    progress(line)
        if "aux" in chunk and "ID" in chunk["aux"]:
            image_id = chunk["aux"]["ID"]
        if "error" in chunk:
            tail = "\n".join(log[-25:])
            raise BuildFailed(
                f"{label}: build failed at {last_step or 'the start'}: {chunk['error'].strip()}\n{tail}", log
            )
    if image_id is None:
        match = next((m for m in (re.match(r"Successfully built (\w+)", x) for x in reversed(log)) if m), None)
        if match is None:
            raise BuildFailed(f"{label}: the engine reported no image id", log)
        image_id = client.images.get(match.group(1)).id
    return image_id


def discard(client: Any, image_id: str) -> None:
    """Remove a failed build's image, unless a tag already names it: a fully cached rebuild of a
    good image gets the same id, and a failed check of the rebuild must not delete the original."""
    if not client.images.get(image_id).tags:
        client.images.remove(image_id, force=True, noprune=True)


def tag_image(client: Any, image_id: str, tag: str) -> None:
    """Point ``tag`` at ``image_id`` and remove the image the tag named before if nothing else
    names it: every rebuild of a tag would otherwise leave a dangling image of several hundred MB,
    and a machine that rebuilds (a CI runner, a developer's laptop) fills its disk with them."""
    import docker.errors

    repo, _, name = tag.rpartition(":") if ":" in tag.rsplit("/", 1)[-1] else (tag, "", "latest")
    try:
        previous = client.images.get(tag).id
    except docker.errors.ImageNotFound:
        previous = None
    client.images.get(image_id).tag(repo, name or "latest")
    if previous and previous != client.images.get(image_id).id:
        try:
            if not client.images.get(previous).tags:
                # no force: an image a container still uses stays (the engine refuses with 409)
                client.images.remove(previous, noprune=False)
        except (docker.errors.ImageNotFound, docker.errors.APIError):
            pass
