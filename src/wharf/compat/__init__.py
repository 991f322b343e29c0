"""Let model code that imports upstream's helpers run on Wharf unchanged.

``install_seldon_core_alias()`` makes ``import seldon_core.user_model`` (and ``flask_utils``,
``metrics``, ``storage``) resolve to ``wharf.compat.seldon_core`` when the real ``seldon_core`` package is not
installed. When it is installed it is left alone: the user's imports get the real classes, Wharf
recognises their exceptions and ``SeldonResponse`` by shape, and says so once in the log.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys

log = logging.getLogger(__name__)

SUBMODULES = ("user_model", "flask_utils", "metrics", "storage")


def install_seldon_core_alias() -> bool:
    """Alias ``seldon_core`` to Wharf's compatibility modules; False if the real one is present."""
    existing = sys.modules.get("seldon_core")
    if existing is not None:
        return existing.__name__ == __name__ + ".seldon_core"
    if importlib.util.find_spec("seldon_core") is not None:
        log.warning(
            "the upstream seldon_core package is installed: model code importing it gets "
            "upstream's classes (Wharf still honours its exceptions and SeldonResponse)"
        )
        return False
    package = importlib.import_module(__name__ + ".seldon_core")
    sys.modules["seldon_core"] = package
    for name in SUBMODULES:
        sys.modules[f"seldon_core.{name}"] = importlib.import_module(f"{package.__name__}.{name}")
    return True
