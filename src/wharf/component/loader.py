"""Finding and importing the user's class from ``interface_name`` (``MyModel`` or ``pkg.mod.Cls``)."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path


class UserClassError(Exception):
    """The user's class cannot be loaded; the message says which file or name is at fault."""


def load_user_class(interface_name: str, search_dir: str | os.PathLike[str] | None = None) -> type:
    """Import ``MyModel`` from ``MyModel.py`` or ``Cls`` from ``pkg.mod`` for ``pkg.mod.Cls``.

    ``search_dir`` (default: the current directory) is put on ``sys.path`` as upstream does.
    """
    folder = str(Path(search_dir or os.getcwd()).resolve())
    if folder not in sys.path:
        sys.path.append(folder)
    module_name, _, class_name = interface_name.rpartition(".")
    if not module_name:
        module_name = class_name = interface_name
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise UserClassError(
                f"cannot import module {module_name!r} for model {interface_name!r}: "
                f"no {module_name.replace('.', '/')}.py in {folder} or on sys.path "
                "(check MODEL_NAME, set in .s2i/environment or the Dockerfile's ENV, and the file name)"
            ) from exc
        raise UserClassError(
            f"importing {module_name!r} failed: {exc} (a dependency missing from requirements.txt?)"
        ) from exc
    except SyntaxError as exc:
        raise UserClassError(f"{exc.filename}:{exc.lineno}: syntax error in the model code: {exc.msg}") from exc
    try:
        user_class = getattr(module, class_name)
    except AttributeError:
        where = getattr(module, "__file__", module_name)
        found = sorted(n for n, v in vars(module).items() if isinstance(v, type) and v.__module__ == module.__name__)
        raise UserClassError(
            f"{where}: no class {class_name!r} in module {module_name!r}"
            + (f" (classes defined there: {', '.join(found)})" if found else "")
        ) from None
    if not callable(user_class):
        raise UserClassError(f"{module_name}.{class_name} is not a class")
    return user_class
