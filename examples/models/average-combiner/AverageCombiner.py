"""A COMBINER: the element-wise mean of its children's outputs (an ensemble)."""

import numpy as np


class AverageCombiner:
    def aggregate(self, features_list, feature_names_list):
        return np.mean([np.asarray(x, dtype=np.float64) for x in features_list], axis=0)

    def class_names(self):
        return ["setosa", "versicolor", "virginica"]
