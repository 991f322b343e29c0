"""A model whose metadata fails validation: its /metadata answers 500 "Model metadata unavailable"."""


class NoMetadata:
    def predict(self, X, names, meta=None):
        return X

    def init_metadata(self):
        return {"inputs": "not a list"}
