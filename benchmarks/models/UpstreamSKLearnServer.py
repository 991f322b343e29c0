"""What upstream's SKLEARN_SERVER class does, step for step, for the benchmark's seldon-core side.

Upstream's ``SKLearnServer.py`` (seldon-core's ``servers/sklearnserver``) ships in its sklearnserver
image, not in the seldon-core package on PyPI, so the reference venv cannot import it. This class,
written for Wharf, repeats that class's work in the same places, so that the seldon-core wrapper
pays for what upstream's image pays for:

- it is a ``SeldonComponent``; the constructor logs ``model_uri`` and ``method`` and loads the
  model at once;
- ``load()`` resolves the folder through ``seldon_core.Storage.download`` (a local path is
  returned as it is) and reads ``model.joblib`` with joblib;
- every ``predict`` logs one INFO line naming the method it calls (the wrapper's default log
  level is INFO, so the line is written), calls ``predict_proba`` (the default) or ``predict``,
  and logs any exception instead of raising it;
- ``init_metadata`` reads ``metadata.yaml`` from the model folder, if there is one.
"""

import logging
import os

import joblib
import seldon_core
import yaml
from seldon_core.user_model import SeldonComponent

log = logging.getLogger(__name__)


class UpstreamSKLearnServer(SeldonComponent):
    def __init__(self, model_uri=None, method="predict_proba"):
        super().__init__()
        self.model_uri = model_uri
        self.method = method
        self.ready = False
        log.info("Model uri: %s", model_uri)
        log.info("method: %s", method)
        self.load()

    def load(self):
        path = os.path.join(seldon_core.Storage.download(self.model_uri), "model.joblib")
        log.info("model file: %s", path)
        self._joblib = joblib.load(path)
        self.ready = True

    def predict(self, X, names, meta=None):
        try:
            if not self.ready:
                self.load()
            if self.method == "predict_proba":
                log.info("Calling predict_proba")
                return self._joblib.predict_proba(X)
            log.info("Calling predict")
            return self._joblib.predict(X)
        except Exception:
            log.exception("Exception during predict")

    def init_metadata(self):
        path = os.path.join(self.model_uri, "metadata.yaml")
        try:
            with open(path) as f:
                return yaml.safe_load(f)
        except FileNotFoundError:
            return {}
        except yaml.YAMLError:
            log.error("metadata file %s present but does not contain valid yaml", path)
            return {}
