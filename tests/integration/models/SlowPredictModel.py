"""``predict`` sleeps ``jsonData.sleep`` seconds (default 2), then says so."""

import os
import time


class SlowPredictModel:
    def predict(self, X, names, meta=None):
        seconds = float(X.get("sleep", 2)) if isinstance(X, dict) else 2.0
        time.sleep(seconds)
        return {"slept": seconds, "pid": os.getpid()}
