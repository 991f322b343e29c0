"""The model of the classic Docker-strategy walkthrough, written against Seldon Core v1's API.

It converts a sensor's Fahrenheit reading with a calibration table that lives in an S3 bucket
(fetched once at start-up from MODEL_URI), keeps what it found in ``self.result`` and returns
that from ``tags()``, so every answer carries it in ``meta.tags``.
"""

import os

import numpy as np
from seldon_core import Storage

LOWEST_F = -100.0  # the table's first reading
STEP_F = 0.001  # and its resolution


class TemperatureModel:
    def __init__(self):
        self.result = {}
        self.table = None

    def load(self):
        folder = Storage.download(os.environ["MODEL_URI"])
        self.table = np.load(os.path.join(folder, "calibration.npy"))

    def predict(self, X, features_names):
        readings = np.asarray(X, dtype=float).ravel()
        rows = np.rint((readings - LOWEST_F) / STEP_F).astype(int)
        celsius = [round(float(c), 2) for c in self.table[rows]]
        alert = "frost" if min(celsius) < 0 else "heat" if max(celsius) > 40 else "none"
        self.result = {"celsius": celsius, "alert": alert}
        return X

    def tags(self):
        return self.result
