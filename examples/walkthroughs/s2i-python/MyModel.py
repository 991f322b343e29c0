"""The model of the classic source-to-image walkthrough, written as it was for Seldon Core v1:
``predict(self, X, features_names)`` with two positional parameters and no ``meta``."""

import numpy as np


class MyModel:
    def __init__(self):
        # a fixed linear model: weights for the walkthrough's four features, one output per row
        self.weights = np.array([0.1, 0.2, 0.3, 0.4])

    def predict(self, X, features_names):
        scores = np.asarray(X, dtype=float) @ self.weights
        return scores.reshape(-1, 1)
