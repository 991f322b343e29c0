"""The prepackaged model servers: upstream's ``predictor_servers`` defaults, and which of them Wharf
has as Python classes (served by ``wharf run`` and by Wharf's server images)."""

from __future__ import annotations

from collections.abc import Mapping

from wharf import __version__

# protocol: v2 SKLEARN_SERVER, XGBOOST_SERVER and MLFLOW_SERVER: MLServer 1.7.1 with the three runtimes,
# built by Wharf from PyPI (builders/mlserver); MLSERVER_IMPLEMENTATIONS below picks the runtime.
MLSERVER_IMAGE = f"wharf/mlserver:{__version__}"

# Prepackaged servers (seldon-config ConfigMap key predictor_servers): key -> protocol -> image.
# Wharf builds (`invoke server-images`) the Seldon-protocol SKLEARN_SERVER, XGBOOST_SERVER and MLFLOW_SERVER,
# the TENSORFLOW_SERVER proxy, and the MLServer image all three use for protocol v2; also the LightGBM
# server a cluster registers as a custom entry, and the storage initializer. TF Serving is Google's
# image; TRITON_SERVER, HUGGINGFACE_SERVER and TEMPO_SERVER still name their makers' images.
PREDICTOR_SERVERS: dict[str, dict[str, str]] = {
    "SKLEARN_SERVER": {"seldon": f"wharf/sklearnserver:{__version__}", "v2": MLSERVER_IMAGE},
    "XGBOOST_SERVER": {"seldon": f"wharf/xgboostserver:{__version__}", "v2": MLSERVER_IMAGE},
    "MLFLOW_SERVER": {"seldon": f"wharf/mlflowserver:{__version__}", "v2": MLSERVER_IMAGE},
    # TENSORFLOW_SERVER: Wharf's Seldon-protocol proxy; TF Serving itself (protocol tensorflow, and the
    # container beside the proxy) is Google's Apache-2.0 image, overridable like any entry here.
    "TENSORFLOW_SERVER": {"seldon": f"wharf/tfserving-proxy:{__version__}", "tensorflow": "tensorflow/serving:2.1.0"},
    "TRITON_SERVER": {"v2": "nvcr.io/nvidia/tritonserver:21.08-py3"},
    "HUGGINGFACE_SERVER": {"v2": "seldonio/mlserver:1.7.1-huggingface"},
    "TEMPO_SERVER": {"v2": "seldonio/mlserver:1.7.1-slim"},
}

# A protocol whose entry is missing falls back to its twin: upstream's kfserving is v2's older name.
_SAME_PROTOCOL = {"v2": "kfserving", "kfserving": "v2"}


def server_image(
    implementation: str, protocol: str, servers: Mapping[str, Mapping[str, str]] = PREDICTOR_SERVERS
) -> str:
    """The image ``servers`` (a ``predictor_servers`` table) names for ``implementation`` under
    ``protocol`` (``seldon``, ``v2``, ``kfserving``, ``tensorflow``), or "" when it names none."""
    images = servers.get(implementation) or {}
    return images.get(protocol) or images.get(_SAME_PROTOCOL.get(protocol, ""), "")


# Implementation -> the class Wharf's server image runs (MODEL_NAME), for the Seldon protocol.
SERVER_CLASSES = {
    "SKLEARN_SERVER": "wharf.servers.sklearn.SKLearnServer",
    "XGBOOST_SERVER": "wharf.servers.xgboost.XGBoostServer",
    "MLFLOW_SERVER": "wharf.servers.mlflow.MLFlowServer",
}

# Implementation -> the MLServer runtime class a protocol: v2 container loads (MLSERVER_MODEL_IMPLEMENTATION),
# upstream's operator's table; a server missing here (HUGGINGFACE_SERVER) keeps its image's own setting.
MLSERVER_IMPLEMENTATIONS = {
    "SKLEARN_SERVER": "mlserver_sklearn.SKLearnModel",
    "XGBOOST_SERVER": "mlserver_xgboost.XGBoostModel",
    "MLFLOW_SERVER": "mlserver_mlflow.MLflowRuntime",
    "TEMPO_SERVER": "tempo.mlserver.InferenceRuntime",
}
