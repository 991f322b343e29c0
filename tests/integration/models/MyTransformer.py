"""A TRANSFORMER: adds one to numeric input; sees the request meta."""

import numpy as np


class MyTransformer:
    def transform_input(self, X, names, meta=None):
        if isinstance(X, np.ndarray):
            return X + 1
        return {"input": X, "puid": (meta or {}).get("puid")}
