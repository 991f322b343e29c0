"""Model code written for upstream: imports ``seldon_core`` names, which Wharf aliases."""

from seldon_core.flask_utils import SeldonMicroserviceException
from seldon_core.user_model import SeldonComponent, SeldonResponse


class CompatModel(SeldonComponent):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)

    def predict(self, X, names, meta=None):
        if isinstance(X, str) and X == "fail":
            raise SeldonMicroserviceException("compat says no", status_code=409, reason="COMPAT_REFUSED")
        return SeldonResponse(X, tags={"compat": "yes"}, metrics=[{"type": "GAUGE", "key": "compat_gauge", "value": 7}])
