"""A router that learns from feedback: it sends requests to branch 0 until it has been rewarded
``needed`` times for branch 1, then to branch 1 (a bandit reduced to what a test can check)."""


class LearningRouter:
    def __init__(self, needed=5):
        self.needed = int(needed)
        self.rewards = {0: 0.0, 1: 0.0}

    def route(self, features, feature_names):
        return 1 if self.rewards[1] >= self.needed else 0

    def send_feedback(self, features, feature_names, reward, truth, routing=None):
        if routing is not None:
            self.rewards[int(routing)] += reward
        return {"rewards": {str(k): v for k, v in self.rewards.items()}}
