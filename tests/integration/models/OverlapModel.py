"""Records how many of its calls ever ran at the same time (REST and gRPC alike).

``predict`` with ``jsonData.report`` answers the largest overlap seen so far; any other call
holds for ``jsonData.hold`` seconds (default 0.05) while counted as running."""

import threading
import time


class OverlapModel:
    def __init__(self):
        self.running = 0
        self.most = 0
        self.lock = threading.Lock()  # only to count right when calls do overlap (--threads)

    def predict(self, X, names, meta=None):
        X = X if isinstance(X, dict) else {}
        if X.get("report"):
            return {"most": self.most}
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(float(X.get("hold", 0.05)))
        with self.lock:
            self.running -= 1
        return {"held": True}
