"""The model the shared vectors (tests/vectors/) run against; VectorModel.java behaves the same.

predict echoes its input; strData "boom" raises (500), strData "bad" is a 400; route answers 1;
aggregate returns the first child's value; tags() adds {"lang": "any"}; metrics() one counter.
"""

from wharf.protocol.errors import MicroserviceError


class VectorModel:
    def predict(self, X, names, meta=None):
        if isinstance(X, str) and X == "boom":
            raise ValueError("boom")
        if isinstance(X, str) and X == "bad":
            raise MicroserviceError("bad input: strData must not be 'bad'", 400)
        return X

    def route(self, X, names):
        return 1

    def aggregate(self, Xs, names_list):
        return Xs[0]

    def tags(self):
        return {"lang": "any"}

    def init_metadata(self):
        return {
            "name": "vector-model",
            "versions": ["v1"],
            "platform": "test",
            "inputs": [{"messagetype": "ndarray", "schema": {"names": ["a", "b"]}}],
        }
