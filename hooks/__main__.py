"""``python -m hooks <command>``: the entry point the builder's s2i scripts and Dockerfiles call.

env                       check MODEL_NAME / SERVICE_TYPE / PERSISTENCE in the environment
deps [SRC]                install SRC's dependencies into $WHARF_DEPS_PREFIX
check [SRC]               compile SRC, import MODEL_NAME, check methods for SERVICE_TYPE
licences [DIR]            write the licence report (default /licenses)
assemble                  the whole s2i assemble: /tmp/src -> $HOME, deps, licences, check
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from hooks import ERROR_PREFIX

DEPS_PREFIX = os.environ.get("WHARF_DEPS_PREFIX", "/opt/app-root/deps")
S2I_SOURCE = "/tmp/src"
S2I_ARTIFACTS = "/tmp/artifacts"


def _settings():
    from wharf.build.s2ienv import model_settings

    # In an s2i build the variables come from .s2i/environment or `s2i build -e`.
    return model_settings(dict(os.environ), source=".s2i/environment (or s2i -e)")


def _fail(problems: list[str]) -> int:
    for p in problems:
        print(ERROR_PREFIX + p, file=sys.stderr, flush=True)
    return 1


def _group_writable(*roots: Path) -> None:
    """OpenShift runs images with an arbitrary UID in group 0: give the group the owner's rights."""
    for root in roots:
        for path in [root, *root.rglob("*")]:
            if not path.is_symlink():
                mode = path.stat().st_mode
                path.chmod(mode | ((mode & 0o700) >> 3))


def assemble() -> int:
    from hooks import check, deps, licences
    from wharf.build.s2ienv import defaults_note

    settings = _settings()
    note = defaults_note(dict(os.environ))
    if note:  # the s2i path's one mention (invoke build says it on the host: its steps may be cached)
        print(f"wharf-hook: {note}", flush=True)
    home = Path(os.environ.get("HOME", "/opt/app-root/src"))
    print(f"wharf-hook: assembling {settings.service_type} {settings.model_name} into {home}", flush=True)
    shutil.copytree(S2I_SOURCE, home, dirs_exist_ok=True, symlinks=True)
    saved = Path(S2I_ARTIFACTS) / "deps"
    if saved.is_dir():  # incremental build: dependencies of the previous image, kept by save-artifacts
        print("wharf-hook: restoring dependencies saved from the previous image", flush=True)
        shutil.copytree(saved, DEPS_PREFIX, dirs_exist_ok=True, symlinks=True)
        # s2i leaves /tmp/artifacts in the committed image: drop it, or each increment grows it.
        shutil.rmtree(S2I_ARTIFACTS, ignore_errors=True)
    deps.install(home, DEPS_PREFIX)
    licences.write_report(Path(os.environ.get("WHARF_LICENCE_DIR", "/licenses")))
    problems = check.check(home, settings)
    if problems:
        return _fail(problems)
    _group_writable(home, Path(DEPS_PREFIX))
    print("wharf-hook: assemble done", flush=True)
    return 0


def main(argv: list[str]) -> int:
    from hooks import check, deps, licences
    from wharf.build.s2ienv import EnvFileError

    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    try:
        if command == "env":
            _settings()
            return 0
        if command == "deps":
            deps.install(Path(rest[0] if rest else "."), DEPS_PREFIX)
            _group_writable(Path(DEPS_PREFIX))
            return 0
        if command == "check":
            source = Path(rest[0] if rest else ".").resolve()
            problems = check.check(source, _settings())
            if problems:
                return _fail(problems)
            print("wharf-hook: check passed", flush=True)
            return 0
        if command == "licences":
            table = licences.write_report(Path(rest[0] if rest else "/licenses"))
            print(f"wharf-hook: licence report of {len(table)} packages written", flush=True)
            return 0
        if command == "assemble":
            return assemble()
    except EnvFileError as exc:
        return _fail(exc.problems)
    except deps.DependencyError as exc:
        return _fail([str(exc)])
    print(f"{ERROR_PREFIX}unknown command {command!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
