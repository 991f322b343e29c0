"""MODEL for graph tests: answers one text label per input row (data a combiner cannot average)."""


class Labels:
    def predict(self, X, names, meta=None):
        return [["cat"] for _ in X]
