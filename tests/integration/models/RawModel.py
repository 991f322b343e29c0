"""``predict_raw`` and ``send_feedback_raw``: the message as it came, the answer as it goes.

``predict_raw`` sets ``status.code`` from ``jsonData.code`` (upstream turns it into the HTTP status)
and reports a custom metric through ``meta.metrics``.
"""

from google.protobuf import json_format


class RawModel:
    def predict_raw(self, msg):
        is_proto = hasattr(msg, "DESCRIPTOR")
        body = json_format.MessageToDict(msg) if is_proto else msg
        got = body.get("jsonData") or {}
        code = int(got.get("code", 200))
        return {
            "status": {"code": code, "info": "raw answer", "status": "SUCCESS" if code < 400 else "FAILURE"},
            "meta": {"metrics": [{"type": "COUNTER", "key": "raw_counter", "value": 1}]},
            "jsonData": {"raw": True, "proto": is_proto, "got": got},
        }

    def send_feedback_raw(self, feedback):
        return {
            "jsonData": {
                "type": type(feedback).__name__,
                "reward": feedback.reward,
                "has_request": feedback.HasField("request"),
            }
        }

    def predict(self, X, names, meta=None):
        raise AssertionError("predict_raw must take precedence over predict")
