"""The prepackaged model servers: upstream's ``predictor_servers`` defaults, and which of them Wharf
has as Python classes (served by ``wharf run`` and by Wharf's server images)."""

from __future__ import annotations

from wharf import __version__

# Prepackaged servers (seldon-config ConfigMap key predictor_servers): key -> protocol -> image.
# Wharf builds the Seldon-protocol SKLEARN_SERVER and XGBOOST_SERVER (`invoke server-images`); the
# others still name upstream's images until Wharf builds them too.
PREDICTOR_SERVERS: dict[str, dict[str, str]] = {
    "SKLEARN_SERVER": {"seldon": f"wharf/sklearnserver:{__version__}", "v2": "seldonio/mlserver:1.7.1-sklearn"},
    "XGBOOST_SERVER": {"seldon": f"wharf/xgboostserver:{__version__}", "v2": "seldonio/mlserver:1.7.1-xgboost"},
    "MLFLOW_SERVER": {"seldon": "seldonio/mlflowserver:1.19.0", "v2": "seldonio/mlserver:1.7.1-mlflow"},
    "TENSORFLOW_SERVER": {"seldon": "seldonio/tfserving-proxy:1.19.0", "tensorflow": "tensorflow/serving:2.1.0"},
    "TRITON_SERVER": {"v2": "nvcr.io/nvidia/tritonserver:21.08-py3"},
    "HUGGINGFACE_SERVER": {"v2": "seldonio/mlserver:1.7.1-huggingface"},
    "TEMPO_SERVER": {"v2": "seldonio/mlserver:1.7.1-slim"},
}

# Implementation -> the class Wharf's server image runs (MODEL_NAME), for the Seldon protocol.
SERVER_CLASSES = {"SKLEARN_SERVER": "wharf.servers.sklearn.SKLearnServer",
                  "XGBOOST_SERVER": "wharf.servers.xgboost.XGBoostServer"}
