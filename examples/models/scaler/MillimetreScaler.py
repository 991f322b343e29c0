"""A TRANSFORMER: flower measurements arrive in millimetres, the models expect centimetres."""

import numpy as np


class MillimetreScaler:
    def transform_input(self, X, feature_names, meta=None):
        return np.asarray(X, dtype=np.float64) / 10.0

    def tags(self):
        return {"units": "cm"}
