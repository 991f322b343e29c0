"""Benchmark model: returns its input unchanged.

Loaded by both Wharf and seldon-core as ``seldon-core-microservice IdentityModel`` with this
folder as the working directory, so the measured cost is the server's, not the model's.
"""


class IdentityModel:
    def predict(self, X, features_names):
        return X
