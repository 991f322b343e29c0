"""``invoke build``: a Python model folder to a tagged, smoke-tested image, with no s2i binary.

Order of events, each failing early with the file and field at fault:
read ``.s2i/environment`` -> collect sources (``.s2iignore`` honoured) -> generate the split
Dockerfile (see dockerfile.py) -> build *untagged* -> smoke test the image -> tag. A failure at
any step leaves no tag, and the untagged image is removed (its layers stay as build cache).
"""

from __future__ import annotations

import fnmatch
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wharf.build import dockerfile as df
from wharf.build.config import Network, git_info, model_labels, tree_digest
from wharf.build.progress import Note
from wharf.build.s2ienv import ENV_FILE, EnvFileError, ModelSettings, defaults_note, model_settings, parse_env

ALWAYS_SKIPPED = {".git", "__pycache__", ".pytest_cache", ".venv", ".mypy_cache"}
HOOK_ERROR = "wharf-hook error: "


class ModelBuildError(RuntimeError):
    """The model image could not be built; ``problems`` name the file/field at fault."""

    def __init__(self, problems: list[str], log: list[str] | None = None):
        self.problems = problems
        self.log = log or []
        super().__init__("\n".join(problems))


@dataclass
class BuildResult:
    image_id: str
    tags: list[str]
    seconds: dict[str, float] = field(default_factory=dict)
    size_bytes: int = 0
    settings: ModelSettings | None = None


def read_settings(source: Path) -> ModelSettings:
    if not source.is_dir():
        raise ModelBuildError([f"{source}: not a directory (expected a model folder with {ENV_FILE})"])
    env_file = source / ENV_FILE
    if not env_file.is_file():
        raise ModelBuildError([f"{env_file}: missing; it must set MODEL_NAME and SERVICE_TYPE (one KEY=VALUE a line)"])
    try:
        return model_settings(parse_env(env_file.read_text(), str(env_file)), str(env_file))
    except EnvFileError as exc:
        raise ModelBuildError(exc.problems) from None


def ignore_patterns(text: str) -> list[str]:
    """s2i's ``.s2iignore``: one glob a line, ``#`` comments; ``!`` negations are not supported."""
    return [line.strip().rstrip("/") for line in text.splitlines() if line.strip() and not line.startswith("#")]


def collect_sources(source: Path) -> dict[str, bytes]:
    ignore_file = source / ".s2iignore"
    patterns = ignore_patterns(ignore_file.read_text()) if ignore_file.is_file() else []
    files = {}
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if ALWAYS_SKIPPED & set(rel.parts) or path.suffix == ".pyc" or not path.is_file():
            continue
        if any(fnmatch.fnmatch(str(rel), p) or fnmatch.fnmatch(rel.parts[0], p) for p in patterns):
            continue
        files[str(rel)] = path.read_bytes()
    return files


def hook_problems(log: list[str]) -> list[str]:
    return [line.split(HOOK_ERROR, 1)[1] for line in log if HOOK_ERROR in line]


def build_model(
    source: Path,
    image: str,
    builder: str | None = None,
    python: str = "3.12",
    network: Network | None = None,
    smoke: bool = True,
    progress: Callable[[str], None] | None = print,
) -> BuildResult:
    """Build ``source`` into ``image`` with the Python builder; tag only after the smoke test passes."""
    from wharf.build.builder import ensure_builder
    from wharf.build.engine import context_tar, docker_client

    source = Path(source).resolve()
    settings = read_settings(source)
    note = defaults_note(settings.env)
    if note and progress:
        progress(Note(note))
    files = collect_sources(source)
    contract = read_contract(source, files)
    builder = builder or ensure_builder(python)
    client = docker_client()
    builder_version = client.images.get(builder).labels.get("io.wharf.builder.version", "unknown")
    labels = model_labels(builder, builder_version, source.name, git_info(source), tree_digest(files))
    dep_names, whole = df.dependency_files({n for n in files if "/" not in n})
    deps = {name: files[name] for name in files if whole or name in dep_names}
    context = context_tar(
        {
            "Dockerfile": df.model_dockerfile(builder, settings, labels, bool(dep_names)).encode(),
            **(network or Network.from_env()).context_files(),
            **{f"deps-src/{n}": b for n, b in deps.items()},
            "deps-src/.keep": b"",
            **{f"src/{n}": b for n, b in files.items()},
        }
    )
    return build_tested_image(client, context, image, source, settings, contract, smoke, progress, hook_problems)


def read_contract(source: Path, files: dict[str, bytes]) -> Any:
    """The folder's contract.json, parsed (None without one); a bad one fails the build."""
    from wharf.contract import core as ct

    if "contract.json" not in files:
        return None
    try:
        return ct.parse_contract(files["contract.json"], source=str(source / "contract.json"))
    except ct.ContractError as exc:
        raise ModelBuildError(exc.problems) from None


def build_tested_image(
    client: Any,
    context: Any,
    image: str,
    source: Path,
    settings: ModelSettings,
    contract: Any,
    smoke: bool,
    progress: Callable[[str], None] | None,
    problems_of: Callable[[list[str]], list[str]],
    **build_options: Any,
) -> BuildResult:
    """Build ``context`` untagged, smoke-test the image, and only then tag it ``image``.

    ``problems_of`` turns the build log into messages naming the file at fault (language-specific).
    """
    started = time.monotonic()
    if progress:
        progress(Note(f"building {image} from {source}"))
    image_id = build_untagged(client, context, image, source, progress, problems_of, **build_options)
    return test_and_tag(
        client, image_id, image, settings, contract, smoke, {"build": time.monotonic() - started}, progress=progress
    )


def build_untagged(
    client: Any,
    context: Any,
    image: str,
    source: Path,
    progress: Callable[[str], None] | None,
    problems_of: Callable[[list[str]], list[str]],
    **build_options: Any,
) -> str:
    from wharf.build.engine import BuildFailed, build_image

    try:
        return build_image(client, context, label=f"{image} from {source}", progress=progress, **build_options)
    except BuildFailed as exc:
        raise ModelBuildError(problems_of(exc.log) or [str(exc)], exc.log) from None


def test_and_tag(
    client: Any,
    image_id: str,
    image: str,
    settings: ModelSettings,
    contract: Any,
    smoke: bool,
    times: dict[str, float],
    smoke_env: dict[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> BuildResult:
    """Smoke-test a freshly built image (its container gets ``smoke_env``, the image never does);
    tag it ``image`` if it passes, remove it if not."""
    from wharf.build.engine import discard, tag_image
    from wharf.build.smoke import smoke_test

    if smoke:
        started = time.monotonic()
        if progress:
            progress(
                Note(
                    f"smoke test: starting the image as 1001:0 ({settings.service_type})"
                    + (", checking its contract.json" if contract else "")
                )
            )
        result = smoke_test(client, image_id, settings.service_type, contract, environment=smoke_env)
        times["smoke"] = time.monotonic() - started
        if not result.ok:
            discard(client, image_id)
            raise ModelBuildError([f"smoke test of the new image failed (not tagged {image}):", *result.problems])
    tag_image(client, image_id, image)
    size = client.images.get(image_id).attrs.get("Size", 0)
    return BuildResult(image_id, [image], times, size, settings)


def describe(result: BuildResult) -> str:
    return json.dumps(
        {
            "image": result.tags,
            "id": result.image_id[:19],
            "seconds": {k: round(v, 1) for k, v in result.seconds.items()},
            "size_mb": round(result.size_bytes / 1e6, 1),
        }
    )
