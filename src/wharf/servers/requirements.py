"""A model's pip requirements (MLflow's ``requirements.txt``) against the packages this image has installed.

Pure: the caller passes the lines and a lookup of installed versions, so the rules are tested
without installing anything. Nothing here touches the network: the point is to say at start-up,
in one line, what a model needs that the image lacks, instead of installing it at start-up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

# Distributions that install the same importable module under another name: MLflow writes
# ``mlflow==X`` into every model's requirements, and the image ships ``mlflow-skinny`` (the same
# ``mlflow`` package without the tracking server and UI); XGBoost's CPU-only wheel is ``xgboost-cpu``.
SAME_MODULE = {
    "mlflow": ("mlflow", "mlflow-skinny"),
    "mlflow-skinny": ("mlflow-skinny", "mlflow"),
    "xgboost": ("xgboost", "xgboost-cpu"),
    "xgboost-cpu": ("xgboost-cpu", "xgboost"),
}


@dataclass(frozen=True)
class Mismatch:
    requirement: str  # as written in the file, e.g. "scikit-learn==1.5.2"
    installed: str  # "scikit-learn 1.9.1"


@dataclass(frozen=True)
class RequirementsCheck:
    missing: tuple[str, ...]  # requirement lines naming a package that is not installed at all
    mismatched: tuple[Mismatch, ...]  # installed, but at a version outside the requirement's specifier
    unchecked: tuple[str, ...]  # lines that are not a single package (options, -r, URLs without a name)


def check_requirements(
    lines: Iterable[str], installed: Callable[[str], str | None], environment: dict[str, str] | None = None
) -> RequirementsCheck:
    """Each requirement in ``lines`` against ``installed(name) -> version or None``.

    Markers are evaluated for this interpreter (a ``; python_version < "3.9"`` line does not apply),
    and a requirement is met by any distribution providing the same module (``SAME_MODULE``).
    """
    env = environment or default_environment()
    missing: list[str] = []
    mismatched: list[Mismatch] = []
    unchecked: list[str] = []
    for raw in lines:
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):  # -r, -c, --index-url, -e ...: pip options, not a package
            unchecked.append(line)
            continue
        try:
            req = Requirement(line)
        except InvalidRequirement:
            unchecked.append(line)
            continue
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        name = canonicalize_name(req.name)
        found = next(
            ((dist, version) for dist in SAME_MODULE.get(name, (name,)) if (version := installed(dist)) is not None),
            None,
        )
        if found is None:
            missing.append(line)
            continue
        dist, version = found
        if req.specifier and not _satisfies(req, version):
            mismatched.append(Mismatch(line, f"{dist} {version}"))
    return RequirementsCheck(tuple(missing), tuple(mismatched), tuple(unchecked))


def _satisfies(req: Requirement, version: str) -> bool:
    try:
        return req.specifier.contains(Version(version), prereleases=True)
    except InvalidVersion:
        return True  # a version pip itself could not order: nothing to say about it


def installed_version(name: str) -> str | None:
    """The installed version of distribution ``name`` in this environment, or None."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None
