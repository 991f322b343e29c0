"""What upstream's SKLEARN_SERVER class does on each request, for the benchmark's seldon-core side.

Upstream's own ``SKLearnServer.py`` ships in its sklearnserver image, not in the seldon-core
package, so the benchmark cannot import it from the reference venv. This class does the same work
in the same places: ``load()`` reads ``<model_uri>/model.joblib`` with joblib, ``predict`` calls
the estimator's ``predict_proba`` (upstream's default method) and returns the array to the wrapper.
"""

import os

import joblib


class UpstreamSKLearnServer:
    def __init__(self, model_uri=None, method="predict_proba"):
        self.model_uri = model_uri
        self.method = method
        self.ready = False

    def load(self):
        self._joblib = joblib.load(os.path.join(self.model_uri, "model.joblib"))
        self.ready = True

    def predict(self, X, names, meta=None):
        if not self.ready:
            self.load()
        if self.method == "predict_proba":
            return self._joblib.predict_proba(X)
        return self._joblib.predict(X)
