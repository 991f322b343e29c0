"""A nearest-centroid iris classifier: a real (if small) model with no download and no sklearn.

The centroids are the per-species means of Fisher's iris measurements (sepal length, sepal
width, petal length, petal width, in cm). ``predict`` returns class probabilities from a softmax
over negative squared distances, one row per input row, like a scikit-learn ``predict_proba``.
"""

import numpy as np


class IrisClassifier:
    CENTROIDS = np.array(
        [
            [5.006, 3.428, 1.462, 0.246],  # setosa
            [5.936, 2.770, 4.260, 1.326],  # versicolor
            [6.588, 2.974, 5.552, 2.026],  # virginica
        ]
    )

    def __init__(self, temperature=1.0):
        self.temperature = float(temperature)
        self.served = 0

    def predict(self, X, feature_names, meta=None):
        X = np.asarray(X, dtype=np.float64).reshape(-1, 4)
        distances = ((X[:, None, :] - self.CENTROIDS[None, :, :]) ** 2).sum(axis=2)
        logits = -distances / self.temperature
        logits -= logits.max(axis=1, keepdims=True)
        proba = np.exp(logits)
        self.served += len(X)
        return proba / proba.sum(axis=1, keepdims=True)

    def class_names(self):
        return ["setosa", "versicolor", "virginica"]

    def tags(self):
        return {"model": "iris-nearest-centroid"}

    def metrics(self):
        return [{"type": "COUNTER", "key": "iris_rows_total", "value": 1}]

    def init_metadata(self):
        return {
            "name": "iris",
            "versions": ["v1"],
            "platform": "numpy",
            "inputs": [
                {
                    "messagetype": "ndarray",
                    "schema": {"names": ["sepal_length", "sepal_width", "petal_length", "petal_width"], "shape": [4]},
                }
            ],
            "outputs": [
                {"messagetype": "ndarray", "schema": {"names": ["setosa", "versicolor", "virginica"], "shape": [3]}}
            ],
        }
