"""The graph orchestrator: walks a predictor's graph, calling each node's component over the wire."""
