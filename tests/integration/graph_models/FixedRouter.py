"""ROUTER for graph tests: always picks ``branch``; logs the routing it is given in feedback."""

import json


class FixedRouter:
    def __init__(self, branch=0, feedback_log=""):
        self.branch = int(branch)
        self.feedback_log = feedback_log

    def route(self, X, names):
        return self.branch

    def send_feedback(self, features, names, reward, truth, routing=None):
        if self.feedback_log:
            with open(self.feedback_log, "a") as fh:
                fh.write(json.dumps({"router": True, "reward": reward, "routing": routing}) + "\n")
        return []
