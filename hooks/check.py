"""The pre-commit check: the model folder compiles, MODEL_NAME imports, and the class has the
methods its SERVICE_TYPE needs. It runs before the image is committed, so a typo fails the build
with the file and name at fault instead of the first request in production."""

from __future__ import annotations

import sys
from pathlib import Path

from wharf.build.s2ienv import REQUIRED_METHODS, ModelSettings

SKIP_DIRS = {".git", ".s2i", "__pycache__", ".venv", "venv", "node_modules"}


def syntax_problems(source: Path) -> list[str]:
    problems = []
    for path in sorted(source.rglob("*.py")):
        if SKIP_DIRS & set(path.relative_to(source).parts[:-1]):
            continue
        try:  # compile() only: nothing is written next to the sources
            compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as err:
            line = getattr(err, "lineno", None)
            where = f"{path.relative_to(source)}:{line}" if line else str(path.relative_to(source))
            problems.append(f"{where}: syntax error: {getattr(err, 'msg', err)}")
    return problems


def defined(cls: type, name: str) -> bool:
    """True if ``cls`` really implements ``name`` (not just inherits the SeldonComponent stub)."""
    fn = getattr(cls, name, None)
    return callable(fn) and not getattr(fn, "__qualname__", "").startswith("SeldonComponent.")


def method_problems(cls: type, settings: ModelSettings) -> list[str]:
    wanted = REQUIRED_METHODS[settings.service_type]
    if not wanted or any(defined(cls, m) for m in wanted):
        return []
    where = getattr(sys.modules.get(cls.__module__), "__file__", None) or cls.__module__
    return [
        f"{Path(where).name}: class {cls.__name__} has no {' or '.join(wanted)} method, "
        f"which SERVICE_TYPE={settings.service_type} needs (see .s2i/environment)"
    ]


def check(source: Path, settings: ModelSettings) -> list[str]:
    problems = syntax_problems(source)
    if problems:
        return problems
    from wharf.component.loader import UserClassError, load_user_class

    try:
        cls = load_user_class(settings.model_name, source)
    except UserClassError as exc:
        return [f".s2i/environment MODEL_NAME={settings.model_name}: {exc}"]
    except Exception as exc:  # the module ran and raised: say so, with the type
        return [f"importing MODEL_NAME={settings.model_name} raised {type(exc).__name__}: {exc}"]
    return method_problems(cls, settings)
