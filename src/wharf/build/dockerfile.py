"""The as-Dockerfile form of an s2i build with the Python builder, split for caching. Pure.

s2i's own ``--as-dockerfile`` copies all sources and runs ``assemble`` in one step, so any code
change reinstalls every dependency. Here the same hooks run in two stages:

1. ``deps``: only the dependency file(s) are copied in and installed into /opt/app-root/deps,
   with the pip settings and CA bundle present in this stage only. Docker's cache keeps this
   stage as long as those files and settings do not change.
2. final: the builder, plus the installed deps and licence report copied from stage 1, plus the
   code, then the pre-commit check. A code-only change re-runs only the last steps.
"""

from __future__ import annotations

import json

from wharf.build.s2ienv import BUILD_ONLY, ModelSettings

S2I = "/usr/libexec/s2i"
HOOKS = f"PYTHONPATH={S2I} PYTHONDONTWRITEBYTECODE=1 python -m hooks"
DEPS_FILES = ("requirements.txt",)


def dependency_files(names: set[str]) -> tuple[list[str], bool]:
    """The files the deps stage needs, and whether that is the whole folder.

    With requirements.txt the dependency layer depends on that file alone. A setup.py or
    pyproject.toml project installs itself, so that stage needs (and is invalidated by) all of it.
    """
    if "requirements.txt" in names:
        return ["requirements.txt"], False
    if names & {"setup.py", "pyproject.toml", "environment.yml", "environment.yaml"}:
        return sorted(names), True
    return [], False


def _env_line(env: dict[str, str]) -> str:
    return "ENV " + " \\\n    ".join(f"{k}={json.dumps(v)}" for k, v in sorted(env.items()))


def model_dockerfile(builder: str, settings: ModelSettings, labels: dict[str, str], has_deps: bool) -> str:
    build_env = {k: v for k, v in settings.env.items() if k in BUILD_ONLY}
    lines = [f"FROM {builder} AS deps"]
    if build_env:
        lines.append(_env_line(build_env))  # this stage is thrown away: index URLs stay out of the image
    lines += [
        "COPY --chown=1001:0 build-config/ /tmp/wharf-build/",
        "COPY --chown=1001:0 deps-src/ /tmp/src/",
        "RUN PIP_CONFIG_FILE=/tmp/wharf-build/pip.conf "
        + (f"{HOOKS} deps /tmp/src && " if has_deps else "")
        + f"{HOOKS} licences /licenses",
        "",
        f"FROM {builder}",
        "COPY --from=deps --chown=1001:0 /opt/app-root/deps/ /opt/app-root/deps/",
        "COPY --from=deps --chown=1001:0 /licenses/ /licenses/",
    ]
    if settings.image_env:
        lines.append(_env_line(settings.image_env))
    lines += [
        "COPY --chown=1001:0 src/ /opt/app-root/src/",
        f"RUN {HOOKS} check /opt/app-root/src",
        "LABEL " + " \\\n      ".join(f"{k}={json.dumps(v)}" for k, v in sorted(labels.items())),
        "USER 1001",
        f'CMD ["{S2I}/run"]',
        "",
    ]
    return "\n".join(lines)


def pinned_dockerfile(text: str, args: dict[str, str]) -> str:
    """Give ``ARG`` lines local values as defaults, the Dockerfile's own default kept as a comment.

    Written into the Dockerfile rather than passed as ``--build-arg``, the build needs nothing but
    its context and ``docker history`` shows the values a reader expects.
    """
    for name, value in args.items():  # every stage that declares the ARG gets it
        text = text.replace(f"ARG {name}=", f"ARG {name}={value}\n# upstream default: ")
    return text
