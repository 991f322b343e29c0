"""``predict`` sleeps ``jsonData.sleep`` seconds (default 2), then says so.

With ``jsonData.marker`` (a file path) it first creates that file, so a test knows the request is
inside user code."""

import os
import time


class SlowPredictModel:
    def predict(self, X, names, meta=None):
        X = X if isinstance(X, dict) else {}
        if X.get("marker"):
            with open(X["marker"], "w") as fh:
                fh.write(str(os.getpid()))
        seconds = float(X.get("sleep", 2))
        time.sleep(seconds)
        return {"slept": seconds, "pid": os.getpid()}
