"""An OUTPUT_TRANSFORMER: multiplies numeric input by ten (two-argument signature)."""

import numpy as np


class MyOutputTransformer:
    def transform_output(self, X, names):
        if isinstance(X, np.ndarray):
            return X * 10
        return X
