"""Wharf's stand-in for upstream ``seldon_core`` (only the names model code imports)."""

from wharf.compat.seldon_core.flask_utils import SeldonMicroserviceException
from wharf.compat.seldon_core.storage import Storage
from wharf.compat.seldon_core.user_model import SeldonComponent, SeldonNotImplementedError, SeldonResponse

__all__ = ["SeldonComponent", "SeldonMicroserviceException", "SeldonNotImplementedError", "SeldonResponse", "Storage"]
