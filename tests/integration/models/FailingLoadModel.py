"""``load()`` raises: the server must not keep running without its model."""


class FailingLoadModel:
    def load(self):
        raise RuntimeError("cannot find the model weights")

    def predict(self, X, names, meta=None):
        return X
