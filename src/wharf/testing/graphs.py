"""Small SeldonDeployment files for tests that run a graph with ``wharf run`` (LocalGraph)."""

from __future__ import annotations

from pathlib import Path

import yaml


def single_node_sdep(path: Path, deployment: str, node: str, model_class: str, namespace: str = "default") -> Path:
    """Write a one-MODEL SeldonDeployment whose container runs ``model_class``; return ``path``."""
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "machinelearning.seldon.io/v1",
                "kind": "SeldonDeployment",
                "metadata": {"name": deployment, "namespace": namespace},
                "spec": {
                    "predictors": [
                        {
                            "name": "main",
                            "componentSpecs": [
                                {
                                    "spec": {
                                        "containers": [
                                            {"name": node, "env": [{"name": "MODEL_NAME", "value": model_class}]}
                                        ]
                                    }
                                }
                            ],
                            "graph": {"name": node, "type": "MODEL"},
                        }
                    ]
                },
            },
            sort_keys=False,
        )
    )
    return path
