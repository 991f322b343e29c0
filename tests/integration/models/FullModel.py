"""A MODEL with most optional methods: tags, metrics, class_names, init_metadata, send_feedback.

``predict`` does something visible by default (numbers doubled, strings prefixed, bytes reversed,
JSON wrapped); a tag ``op`` in the request's ``meta.tags`` asks for a special behaviour.
"""

import time

import numpy as np
from seldon_core.user_model import SeldonResponse


class FullModel:
    def __init__(self):
        self.loaded = False
        self.calls = 0

    def load(self):
        self.loaded = True

    def predict(self, X, names, meta=None):
        self.calls += 1
        tags = (meta or {}).get("tags") or {}
        op = tags.get("op")
        if op == "raise":
            raise ValueError("model exploded")
        if op == "sleep":
            time.sleep(float(tags.get("seconds", 0.5)))
        if op == "runtime":
            return SeldonResponse(
                self._default(X),
                tags={"shared": "runtime", "runtime": True},
                metrics=[{"type": "COUNTER", "key": "runtime_counter", "value": 2}],
            )
        if op == "bad_metric":
            return SeldonResponse(X, metrics=[{"type": "BOGUS", "key": "bad", "value": 1}])
        if op == "strings":
            return np.array([["a", "b"]])
        if op == "numbers":
            return np.array([[1.5, 2.5]])
        if op == "names":
            return {"names": list(names)}
        if op == "meta":
            return {"meta": meta}
        if op == "loaded":
            return {"loaded": self.loaded}
        if op == "unknown":
            return object()
        return self._default(X)

    @staticmethod
    def _default(X):
        if isinstance(X, np.ndarray):
            return X * 2 if np.issubdtype(X.dtype, np.number) else X
        if isinstance(X, str):
            return "full:" + X
        if isinstance(X, bytes):
            return X[::-1]
        return {"echo": X}

    def tags(self):
        return {"shared": "tags", "model": "full"}

    def metrics(self):
        return [
            {"type": "COUNTER", "key": "full_counter", "value": 1, "tags": {"kind": "count"}},
            {"type": "GAUGE", "key": "full_gauge", "value": 42, "tags": {"kind": "gauge"}},
            {"type": "TIMER", "key": "full_timer", "value": 20.0},
        ]

    def class_names(self):
        return ["class_a", "class_b"]

    def health_status(self):
        return {"healthy": True, "model": "full"}

    def init_metadata(self):
        return {
            "name": "full-model",
            "versions": ["1.2.3"],
            "platform": "wharf-tests",
            "inputs": [{"messagetype": "ndarray", "schema": {"names": ["a", "b"], "shape": [2]}}],
            "outputs": [{"messagetype": "ndarray", "schema": {"shape": [2]}}],
            "custom": {"author": "tests"},
        }

    def send_feedback(self, features, feature_names, reward, truth, routing=None):
        return {
            "features": np.asarray(features).tolist(),
            "names": list(feature_names),
            "reward": reward,
            "truth": np.asarray(truth).tolist(),
            "routing": routing,
        }
