"""``.s2i/environment``: parsing and the checks a Python model folder must pass. Pure functions.

The file format is s2i's: one ``KEY=VALUE`` per line, blank lines and ``#`` lines ignored, the value
taken verbatim after the first ``=`` (no quoting, no expansion).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

ENV_FILE = ".s2i/environment"
SERVICE_TYPES = ("MODEL", "ROUTER", "TRANSFORMER", "OUTPUT_TRANSFORMER", "COMBINER", "OUTLIER_DETECTOR")
API_TYPES = ("REST", "GRPC", "FBS")
# Settings that only matter while dependencies install and may carry credentials (an index URL
# with a token): they are used in the build stage and never written into the final image's ENV.
BUILD_ONLY = (
    "EXTRA_INDEX_URL",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_TRUSTED_HOST",
    "PIP_CERT",
    "PIP_CONFIG_FILE",
)
# One method (or its _raw twin) the class must define for each SERVICE_TYPE.
REQUIRED_METHODS = {
    "MODEL": ("predict", "predict_raw"),
    "ROUTER": ("route", "route_raw"),
    "TRANSFORMER": ("transform_input", "transform_input_raw"),
    "OUTPUT_TRANSFORMER": ("transform_output", "transform_output_raw"),
    "COMBINER": ("aggregate", "aggregate_raw"),
    "OUTLIER_DETECTOR": (),
}
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class EnvFileError(ValueError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class ModelSettings:
    model_name: str
    service_type: str
    persistence: str = "0"
    env: dict[str, str] = field(default_factory=dict)

    @property
    def image_env(self) -> dict[str, str]:
        """What goes into the image's ENV: everything but the build-only pip settings."""
        return {k: v for k, v in self.env.items() if k not in BUILD_ONLY}


def parse_env(text: str, source: str = ENV_FILE) -> dict[str, str]:
    env: dict[str, str] = {}
    problems = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not _KEY.fullmatch(key):
            problems.append(f"{source}:{number}: expected KEY=VALUE, got {raw!r}")
            continue
        env[key] = value
    if problems:
        raise EnvFileError(problems)
    return env


# Upstream's newer builder refuses a .s2i/environment without these; older walkthroughs omit them.
UPSTREAM_REQUIRED = {"PERSISTENCE": "0", "API_TYPE": "REST"}


def defaults_note(env: dict[str, str]) -> str | None:
    """The one line a build log gets when upstream-required variables are left to their defaults."""
    missing = [name for name in UPSTREAM_REQUIRED if not env.get(name, "").strip()]
    if not missing:
        return None
    assumed = ", ".join(f"{name}={UPSTREAM_REQUIRED[name]}" for name in missing)
    return (
        f"{ENV_FILE}: {assumed} assumed ({' and '.join(missing)} not set; upstream's builder "
        "requires them, Wharf's does not)"
    )


def model_settings(env: dict[str, str], source: str = ENV_FILE) -> ModelSettings:
    """Check the values the Python builder needs; every problem names the file and variable."""
    problems = []
    name = env.get("MODEL_NAME", "").strip()
    if not name:
        problems.append(
            f"{source}: MODEL_NAME is missing: set it to the class to serve, "
            "e.g. MODEL_NAME=MyModel for class MyModel in MyModel.py"
        )
    elif not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*", name):
        problems.append(f"{source}: MODEL_NAME={name!r} is not a Python class path (Class or package.module.Class)")
    service = env.get("SERVICE_TYPE", "").strip()
    if not service:
        problems.append(f"{source}: SERVICE_TYPE is missing: expected one of {', '.join(SERVICE_TYPES)}")
    elif service not in SERVICE_TYPES:
        problems.append(f"{source}: SERVICE_TYPE={service!r} is not one of {', '.join(SERVICE_TYPES)}")
    persistence = env.get("PERSISTENCE", "0").strip() or "0"
    if persistence not in ("0", "1"):
        problems.append(f"{source}: PERSISTENCE={persistence!r}: expected 0 or 1")
    api = env.get("API_TYPE", "").strip()
    if api and api not in API_TYPES:
        problems.append(f"{source}: API_TYPE={api!r}: expected REST or GRPC (it is ignored: both are served)")
    if problems:
        raise EnvFileError(problems)
    return ModelSettings(name, service, persistence, dict(env))
