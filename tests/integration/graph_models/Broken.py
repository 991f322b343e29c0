"""MODEL for graph tests: fails with a custom status and reason, or sleeps ``delay`` seconds first."""

import time

from seldon_core.flask_utils import SeldonMicroserviceException


class Broken:
    def __init__(self, delay=0.0, status=422):
        self.delay = float(delay)
        self.status = int(status)

    def predict(self, X, names):
        if self.delay:
            time.sleep(self.delay)
            return X
        raise SeldonMicroserviceException(
            "the model refuses this input", status_code=self.status, reason="MODEL_SAYS_NO"
        )
