"""A model for the V2 protocol tests: answers its input(s) as they came (one array, or a dict of
them by input name), what it was called with when the request says so, or a failure."""

import json

import numpy as np


class V2EchoModel:
    def init_metadata(self):
        return {
            "versions": ["7"],
            "platform": "wharf-tests",
            "inputs": [
                {"name": "input-0", "datatype": "FP32", "shape": [-1, 3]},
                {"messagetype": "ndarray", "schema": {"names": ["a", "b", "c"]}},
            ],
            "outputs": [{"name": "echo", "datatype": "FP32", "shape": [-1, 3]}],
        }

    def predict(self, X, names, meta=None):
        tags = (meta or {}).get("tags") or {}
        if tags.get("fail"):
            raise ValueError("the model was asked to fail")
        if tags.get("show_call"):
            inputs = X if isinstance(X, dict) else {"": X}
            return {
                "call": np.array(
                    [
                        json.dumps(
                            {
                                "names": names,
                                "meta": meta,
                                "type": type(X).__name__,
                                "inputs": {k: [str(v.dtype), list(v.shape)] for k, v in inputs.items()},
                            }
                        )
                    ]
                )
            }
        return X

    def tags(self):
        return {"served_by": "V2EchoModel"}
