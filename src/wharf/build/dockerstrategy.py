"""``invoke build --dockerfile``: a model image from the user's own Dockerfile, as OpenShift's Docker
build strategy (``oc new-build --strategy docker --binary``) makes it, with the s2i path's guarantees.

What is kept from OpenShift: the folder is the build context, a base-image override replaces the
image of the *last* ``FROM`` (or fills ``ARG BASE_IMAGE`` when the Dockerfile declares one), and
build labels are added. What is added: the same labels as the s2i path, the image is checked
(MODEL_NAME, SERVICE_TYPE) and smoke-tested, and it is tagged only when both pass.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import wharf
from wharf.build.config import git_info, model_labels, tree_digest
from wharf.build.model import BuildResult, ModelBuildError, build_untagged, read_contract, test_and_tag
from wharf.build.progress import Note
from wharf.build.s2ienv import SERVICE_TYPES, ModelSettings

_FROM = re.compile(r"^(\s*FROM\s+(?:--\S+\s+)*)(\S+)(.*)$", re.IGNORECASE)
_GLOBAL_ARG = re.compile(r"^\s*ARG\s+BASE_IMAGE\b", re.IGNORECASE)


def rebase(dockerfile: str, base_image: str | None) -> tuple[str, dict[str, str]]:
    """The Dockerfile and build args that make ``base_image`` the final stage's base. Pure.

    A Dockerfile that declares ``ARG BASE_IMAGE`` before its first ``FROM`` gets it as a build arg;
    any other has the image of its last ``FROM`` line replaced, as OpenShift's strategy does.
    """
    lines = dockerfile.splitlines(keepends=True)
    froms = [i for i, line in enumerate(lines) if _FROM.match(line)]
    if not froms:
        raise ValueError("no FROM instruction")
    if base_image is None:
        return dockerfile, {}
    if any(_GLOBAL_ARG.match(line) for line in lines[: froms[0]]):
        return dockerfile, {"BASE_IMAGE": base_image}
    last = froms[-1]
    lines[last] = _FROM.sub(lambda m: m.group(1) + base_image + m.group(3), lines[last])
    return "".join(lines), {}


def final_base(dockerfile: str) -> str:
    """The image the final stage starts from, as written (``${BASE_IMAGE}`` left unexpanded)."""
    return [m.group(2) for m in map(_FROM.match, dockerfile.splitlines()) if m][-1]


def image_settings(config: dict[str, Any], source: str) -> tuple[ModelSettings, list[str]]:
    """What the built image will serve, from its config (ENV, CMD); problems name the Dockerfile."""
    env = dict(item.split("=", 1) for item in config.get("Env") or [] if "=" in item)
    command = " ".join(config.get("Entrypoint") or []) + " " + " ".join(config.get("Cmd") or [])
    problems = []
    if not env.get("MODEL_NAME") and "$MODEL_NAME" in command.replace("${MODEL_NAME}", "$MODEL_NAME"):
        problems.append(
            f"{source}: CMD passes $MODEL_NAME but the image sets no MODEL_NAME: "
            "add ENV MODEL_NAME=<your class>, e.g. ENV MODEL_NAME=MyModel for MyModel.py"
        )
    if "seldon-core-microservice" not in command and "wharf" not in command:
        problems.append(
            f"{source}: CMD/ENTRYPOINT does not start seldon-core-microservice (or wharf serve): "
            f"{command.strip() or 'none'}"
        )
    service = env.get("SERVICE_TYPE") or _flag(command, "--service-type") or "MODEL"
    if service not in SERVICE_TYPES:
        problems.append(f"{source}: SERVICE_TYPE={service!r} is not one of {', '.join(SERVICE_TYPES)}")
    return ModelSettings(env.get("MODEL_NAME", ""), service, env.get("PERSISTENCE", "0"), env), problems


def parse_smoke_env(items: list[str], environ: dict[str, str]) -> dict[str, str]:
    """``KEY=VALUE`` pairs, or a bare ``KEY`` taken from ``environ`` (so secrets stay off the command line)."""
    env = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            if key not in environ:
                raise ValueError(f"--smoke-env {key}: not set in this shell (give KEY=VALUE or export it)")
            value = environ[key]
        env[key] = value
    return env


def _flag(command: str, name: str) -> str | None:
    words = shlex.split(command, posix=True) if command.count('"') % 2 == 0 else command.split()
    for i, word in enumerate(words):
        if word == name and i + 1 < len(words) and not words[i + 1].startswith("$"):
            return words[i + 1]
        if word.startswith(name + "="):
            return word.split("=", 1)[1]
    return None


def context_files(folder: Path, dockerfile: str) -> dict[str, bytes]:
    """The build context as ``docker build`` sends it: everything not excluded by .dockerignore."""
    from docker.utils.build import exclude_paths

    ignore = folder / ".dockerignore"
    patterns = (
        [p.strip() for p in ignore.read_text().splitlines() if p.strip() and not p.startswith("#")]
        if ignore.is_file()
        else []
    )
    names = exclude_paths(str(folder), patterns, dockerfile=dockerfile)
    return {name: (folder / name).read_bytes() for name in sorted(names) if (folder / name).is_file()}


def build_from_dockerfile(
    folder: Path,
    image: str,
    dockerfile: str = "Dockerfile",
    base_image: str | None = None,
    smoke: bool = True,
    smoke_env: dict[str, str] | None = None,
    progress: Callable[[str], None] | None = print,
) -> BuildResult:
    """Build ``folder`` with its Dockerfile into ``image``: untagged build, checks, smoke test, tag.

    ``smoke_env`` is what the smoke test's container needs to start (a model URI, credentials):
    it is given to that container only and never reaches the image.
    """
    from wharf.build.engine import context_tar, discard, docker_client

    folder = Path(folder).resolve()
    path = folder / dockerfile
    if not path.is_file():
        raise ModelBuildError([f"{path}: no such Dockerfile (--dockerfile is relative to the source folder)"])
    try:
        text, buildargs = rebase(path.read_text(), base_image)
    except ValueError as exc:
        raise ModelBuildError([f"{path}: {exc}"]) from None
    files = {**context_files(folder, dockerfile), dockerfile: text.encode()}
    contract = read_contract(folder, files)
    labels = model_labels(
        base_image or final_base(text), wharf.__version__, folder.name, git_info(folder), tree_digest(files)
    )
    labels["io.wharf.build.strategy"] = "docker"
    client = docker_client()
    started = time.monotonic()
    image_id = build_untagged(
        client,
        context_tar(files),
        image,
        folder,
        progress,
        lambda log: [],
        dockerfile=dockerfile,
        buildargs=buildargs,
        labels=labels,
    )
    config = client.images.get(image_id).attrs["Config"]
    settings, problems = image_settings(config, str(path))
    if problems:
        discard(client, image_id)
        raise ModelBuildError(problems + [f"(not tagged {image})"])
    if progress and (config.get("User") or "root") in ("", "root", "0"):
        progress(
            Note(
                f"{path}: note: no USER instruction, so the image runs as root unless the pod sets "
                "runAsUser; Wharf's smoke test ran it as 1001:0 (add USER 1001 to make that the default)"
            )
        )
    return test_and_tag(
        client,
        image_id,
        image,
        settings,
        contract,
        smoke,
        {"build": time.monotonic() - started},
        smoke_env,
        progress=progress,
    )
