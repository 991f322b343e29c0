"""``seldon_core.user_model`` names, served by Wharf."""

from wharf.component.user_api import SeldonComponent, SeldonNotImplementedError, SeldonResponse

__all__ = ["SeldonComponent", "SeldonNotImplementedError", "SeldonResponse"]
