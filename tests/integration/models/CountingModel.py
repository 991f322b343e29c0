"""Counts the requests it has answered: state kept in the object, as many real models do."""

import os


class CountingModel:
    def __init__(self):
        self.count = 0

    def predict(self, X, names, meta=None):
        self.count += 1
        return {"count": self.count, "pid": os.getpid()}
