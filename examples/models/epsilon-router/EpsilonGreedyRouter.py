"""A ROUTER: an epsilon-greedy multi-armed bandit over its children, learning from feedback.

``route`` sends a request to the branch with the best mean reward so far, or, with probability
``epsilon``, to a random branch. ``send_feedback`` credits the reward to the branch the request
took, which the orchestrator reports back in ``meta.routing``.
"""

import numpy as np


class EpsilonGreedyRouter:
    def __init__(self, n_branches=2, epsilon=0.1, seed=7, verbose=False):
        # ``verbose`` as in Seldon's epsilon-greedy router, whose parameters the wharf-mab chart passes
        self.n_branches = int(n_branches)
        self.epsilon = float(epsilon)
        self.verbose = str(verbose).lower() in ("1", "true")
        self.rng = np.random.default_rng(int(seed))
        self.pulls = np.zeros(self.n_branches)
        self.rewards = np.zeros(self.n_branches)

    def route(self, features, feature_names):
        if self.rng.random() < self.epsilon or not self.pulls.any():
            return int(self.rng.integers(self.n_branches))
        means = np.divide(self.rewards, self.pulls, out=np.zeros_like(self.rewards), where=self.pulls > 0)
        choice = int(np.argmax(means))
        if self.verbose:
            print(f"routing to branch {choice}; mean rewards {means.tolist()}", flush=True)
        return choice

    def send_feedback(self, features, feature_names, reward, truth, routing=None):
        if routing is not None and 0 <= routing < self.n_branches:
            self.pulls[routing] += 1
            self.rewards[routing] += reward
        return []

    def tags(self):
        return {"router_pulls": self.pulls.tolist()}
