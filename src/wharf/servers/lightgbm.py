"""``LIGHTGBM_SERVER``: a LightGBM booster, the example of a custom prepackaged server.

Upstream Seldon Core v1 has no LightGBM server: a cluster gets one by adding an entry to the
operator's ``predictor_servers`` table (the wharf-core chart value ``predictor_servers``, the
seldon-config ConfigMap key, or the operator's ``WHARF_PREDICTOR_SERVERS``) naming an image, and a
SeldonDeployment then says ``implementation: LIGHTGBM_SERVER``. This class is what the image
``wharf/lightgbmserver`` runs; it is not in Wharf's default table, so a deployment naming it is
refused until the table has it (examples/servers/lightgbm/).

The booster is ``model.bst`` (the name MLServer's LightGBM runtime and KServe's look for) or
``model.txt`` (LightGBM's own text format, as ``Booster.save_model`` writes it by default), and the
answer is ``Booster.predict(X)``: class probabilities for a multi-class objective, one score per row
for binary and regression ones. ``metadata.yaml`` beside it is the model's metadata.
"""

from __future__ import annotations

from pathlib import Path

from wharf.servers.model_folder import ModelFolderError, ModelFolderServer, first_line


class LightGBMServer(ModelFolderServer):
    model_files = ("model.bst", "model.txt")
    kind = "LightGBM"

    def _load(self, path: Path) -> None:
        import lightgbm

        try:
            self._booster = lightgbm.Booster(model_file=str(path))
        except lightgbm.basic.LightGBMError as exc:
            raise ModelFolderError(f"{path}: not a LightGBM model file ({first_line(exc)})") from None

    def predict(self, X, names=None, meta=None):  # noqa: N803 - upstream's argument names
        self.load()  # a no-op once loaded; the class also works outside the component server
        return self._booster.predict(X)
