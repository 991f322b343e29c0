"""MODEL for graph tests: adds its ``offset`` to the input, tags the answer, logs feedback to a file."""

import json

import numpy as np


class Echo:
    def __init__(self, offset=0.0, feedback_log=""):
        self.offset = float(offset)
        self.feedback_log = feedback_log

    def predict(self, X, names, meta=None):
        return np.asarray(X, dtype=np.float64) + self.offset

    def tags(self):
        return {f"seen_by_{int(self.offset)}": True}

    def send_feedback(self, features, names, reward, truth, routing=None):
        if self.feedback_log:
            with open(self.feedback_log, "a") as fh:
                fh.write(json.dumps({"offset": self.offset, "reward": reward, "routing": routing}) + "\n")
        return []
