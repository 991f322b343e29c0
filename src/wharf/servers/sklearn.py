"""``SKLEARN_SERVER``: a scikit-learn estimator saved with joblib (or pickle), served as upstream's SKLearnServer.

Upstream's contract, kept: the class is ``SKLearnServer(model_uri, method="predict_proba")``, the
file is ``model.joblib`` in the model folder, ``method`` picks ``predict_proba``, ``predict`` or
``decision_function``, the answer's names are the wrapper's defaults (``t:0``, ``t:1``, ...), and
``metadata.yaml`` beside the model, if present, is the model's metadata.

Where upstream differs, on purpose: a ``method`` it does not know, a missing file or an estimator
without the method fails at start-up with a message naming the folder, the file and the method
(upstream quietly called ``predict`` instead, or logged the exception and answered nothing); and
``model.pkl`` / ``model.pickle`` are accepted beside ``model.joblib``.

Loading runs the file's pickled code, as with any joblib or pickle model: serve only models from a
source you trust.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wharf.servers.model_folder import ModelFolderError, ModelFolderServer

METHODS = ("predict_proba", "predict", "decision_function")


class SKLearnServer(ModelFolderServer):
    model_files = ("model.joblib", "model.pkl", "model.pickle")
    kind = "scikit-learn (joblib)"

    def __init__(self, model_uri: str | None = None, method: str = "predict_proba") -> None:
        if method not in METHODS:
            raise ModelFolderError(f"parameter method: {method!r} is not one of {', '.join(METHODS)}")
        self.method = method
        self._predict: Any = None
        super().__init__(model_uri)

    def _load(self, path: Path) -> None:
        import joblib

        try:
            model = joblib.load(path)
        except Exception as exc:  # noqa: BLE001 - any failure to unpickle means "not a model file"
            raise ModelFolderError(
                f"{path}: not a joblib or pickle file of a scikit-learn model ({type(exc).__name__}: {exc})"
            ) from None
        self._predict = getattr(model, self.method, None)
        if not callable(self._predict):
            have = [m for m in METHODS if callable(getattr(model, m, None))]
            raise ModelFolderError(
                f"{path}: the {type(model).__name__} in it has no {self.method}(); "
                f"set the parameter method to one of: {', '.join(have) or '(none)'}"
            )

    def predict(self, X, names=None, meta=None):  # noqa: N803 - upstream's argument names
        self.load()  # a no-op once loaded; the class also works outside the component server
        return self._predict(X)
