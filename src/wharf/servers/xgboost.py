"""``XGBOOST_SERVER``: an XGBoost booster, served as upstream's XGBoostServer.

Upstream's contract, kept: ``XGBoostServer(model_uri)``, the booster in ``model.bst``, the answer
``Booster.predict(DMatrix(X))`` (class probabilities for ``multi:softprob``, one score per row
for binary and regression objectives), ``metadata.yaml`` beside it. Also accepted, in this order:
``model.json`` and ``model.ubj``, the formats XGBoost itself recommends since 1.0 and 1.6.
"""

from __future__ import annotations

from pathlib import Path

from wharf.servers.model_folder import ModelFolderError, ModelFolderServer, first_line


class XGBoostServer(ModelFolderServer):
    model_files = ("model.bst", "model.json", "model.ubj")
    kind = "XGBoost"

    def _load(self, path: Path) -> None:
        import xgboost

        try:
            self._booster = xgboost.Booster(model_file=str(path))
        except xgboost.core.XGBoostError as exc:
            raise ModelFolderError(f"{path}: not an XGBoost model file ({first_line(exc)})") from None

    def predict(self, X, names=None, meta=None):  # noqa: N803 - upstream's argument names
        self.load()  # a no-op once loaded; the class also works outside the component server
        import xgboost

        return self._booster.predict(xgboost.DMatrix(X))
