"""``load()`` takes SLOW_LOAD_SECONDS (default 3): health answers, readiness waits."""

import os
import time


class SlowLoadModel:
    def __init__(self):
        self.loaded = False

    def load(self):
        time.sleep(float(os.environ.get("SLOW_LOAD_SECONDS", "3")))
        self.loaded = True

    def predict(self, X, names, meta=None):
        return {"loaded": self.loaded}
