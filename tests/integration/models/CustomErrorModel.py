"""Raises an error carrying the HTTP status and reason asked for in ``jsonData``."""

from seldon_core.flask_utils import SeldonMicroserviceException


class CustomErrorModel:
    def predict(self, X, names, meta=None):
        if isinstance(X, dict) and "status" in X:
            raise SeldonMicroserviceException(
                X.get("info", "custom failure"), status_code=int(X["status"]), reason=X.get("reason", "CUSTOM_REASON")
            )
        return X
