"""Fails as asked: ``jsonData.fail`` raises RuntimeError (an internal failure), ``jsonData.oom``
raises MemoryError, ``jsonData.refuse`` raises upstream's exception with status 400 (a user error);
anything else answers. Its own ``health_status`` always says it is fine."""

from seldon_core.flask_utils import SeldonMicroserviceException


class FlakyModel:
    def predict(self, X, names, meta=None):
        X = X if isinstance(X, dict) else {}
        if X.get("fail"):
            raise RuntimeError("the feature store is gone")
        if X.get("oom"):
            raise MemoryError("cannot allocate 2 GiB")
        if X.get("refuse"):
            raise SeldonMicroserviceException("no such customer", status_code=400)
        return {"ok": True}

    def health_status(self):
        return {"fine": True}
