"""The user's class behind the Open Inference Protocol (V2): tensors in, ``predict(X, names, meta)``, tensors out.

The mapping (docs/v2-protocol.md says it for users):

- one input: ``X`` is its numpy array (the request's shape and datatype), ``names`` is ``[]``;
- several inputs: ``X`` is a dict ``{input name: array}`` in request order, ``names`` the input
  names (arrays of different shapes and datatypes cannot be one array; a dict keeps each by the
  name a V2 client gave it, as MLServer's and KServe's runtimes look inputs up by name);
- ``meta`` is ``{"puid": <request id>, "tags": <request parameters>}`` (no puid without an id);
- the return value: a dict ``{name: array-like}`` is one output per key; anything else one output,
  named after the one requested output, else the first output of ``init_metadata()``, else
  ``output-0``. Datatypes follow the numpy dtype; text, bytes and objects are BYTES. A
  ``SeldonResponse``'s tags and the class's ``tags()`` become the response ``parameters``; its
  metrics and ``metrics()`` are recorded as for a Seldon call.

User code runs where the transport runs Seldon calls (the worker's model thread).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from wharf.component.metrics import validate_metrics
from wharf.component.model import Component
from wharf.component.user_api import is_not_implemented, is_seldon_response
from wharf.protocol.v2.tensor import InferRequest, InferResponse, Tensor, V2Error, tensor_from_numpy

DEFAULT_OUTPUT = "output-0"
PLATFORM = "wharf"


def model_name_for(user: Any, configured: str | None = None) -> str:
    """``--model-name``/``WHARF_MODEL_NAME``, else ``MLSERVER_MODEL_NAME`` (the operator sets it to
    the graph node's name, the name an orchestrator with ``protocol: v2`` calls), else the class name."""
    return (
        configured or os.environ.get("WHARF_MODEL_NAME") or os.environ.get("MLSERVER_MODEL_NAME") or type(user).__name__
    )


def _v2_items(items: Any) -> list[dict[str, Any]]:
    """The V2-style tensors of a metadata list (name, datatype and shape all given); Seldon-style
    ``messagetype`` entries have no V2 form and are left out."""
    out = []
    for item in items or []:
        if isinstance(item, dict) and {"name", "datatype", "shape"} <= item.keys():
            out.append({"name": item["name"], "datatype": item["datatype"], "shape": list(item["shape"])})
    return out


class V2Model:
    """One model (the user's object) as a V2 server sees it."""

    def __init__(self, component: Component, name: str) -> None:
        self.component = component
        self.name = name
        meta = component.metadata or {}
        self.versions = [v for v in meta.get("versions", []) if isinstance(v, str) and v]
        self.platform = meta.get("platform") or PLATFORM
        self.inputs = _v2_items(meta.get("inputs"))
        self.outputs = _v2_items(meta.get("outputs"))
        self._predict = component._calls.get("predict")

    def check(self, name: str, version: str | None = None) -> None:
        """404 unless ``name`` (and ``version``, when given) is this model."""
        if name != self.name:
            raise V2Error(f"model {name!r} not found: this server serves {self.name!r}", 404)
        if version and version not in self.versions:
            have = ", ".join(repr(v) for v in self.versions) or "none"
            raise V2Error(f"model {name!r} has no version {version!r} (versions: {have})", 404)

    def metadata(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "versions": self.versions,
            "platform": self.platform,
            "inputs": self.inputs,
            "outputs": self.outputs,
        }

    def infer(self, request: InferRequest) -> InferResponse:
        """Call the class (on the model thread) and build the response."""
        if self._predict is None:
            raise V2Error(f"model {self.name!r} has no predict(X, names, meta) method, which V2 inference calls", 501)
        if not request.inputs:
            raise V2Error("the request has no inputs")
        if len(request.inputs) == 1:
            x: Any = request.inputs[0].data
            names: list[str] = []
        else:
            x = {t.name: t.data for t in request.inputs}
            names = [t.name for t in request.inputs]
        meta: dict[str, Any] = {"tags": dict(request.parameters)}
        if request.id:
            meta["puid"] = request.id
        try:
            result = self._predict(x, names, meta)
        except Exception as exc:
            if is_not_implemented(exc):
                raise V2Error(f"model {self.name!r}: predict is not implemented", 501) from None
            raise
        c = self.component
        parameters: dict[str, Any] = {}
        metrics: list[dict[str, Any]] = []
        if is_seldon_response(result):
            parameters.update(result.tags or {})
            metrics.extend(validate_metrics(result.metrics, "SeldonResponse.metrics") if result.metrics else [])
            result = result.data
        user_tags = c._optional(c._tags)
        if isinstance(user_tags, dict):
            parameters = {**user_tags, **parameters}
        user_metrics = c._optional(c._metrics)
        if user_metrics is not None:
            metrics = [*validate_metrics(user_metrics, "metrics()"), *metrics]
        if metrics:
            c.sink.record("predict", metrics)
        outputs = self._outputs(result, request)
        return InferResponse(self.name, outputs, self.versions[0] if self.versions else "", request.id, parameters)

    def _outputs(self, result: Any, request: InferRequest) -> list[Tensor]:
        if isinstance(result, dict):
            outputs = [_output(str(k), v) for k, v in result.items()]
        else:
            if len(request.outputs) == 1:
                name = request.outputs[0].name
            elif self.outputs:
                name = self.outputs[0]["name"]
            else:
                name = DEFAULT_OUTPUT
            outputs = [_output(name, result)]
        if request.outputs:
            by_name = {t.name: t for t in outputs}
            missing = [o.name for o in request.outputs if o.name not in by_name]
            if missing:
                raise V2Error(
                    f"output {missing[0]!r} was requested but the model returned {', '.join(repr(n) for n in by_name)}"
                )
            outputs = [by_name[o.name] for o in request.outputs]
        return outputs


def _output(name: str, value: Any) -> Tensor:
    if isinstance(value, (str, bytes)):
        value = np.array([value], dtype=object)
    try:
        return tensor_from_numpy(name, value)
    except V2Error:
        raise
    except (ValueError, TypeError) as exc:
        raise V2Error(
            f"output {name!r}: the model returned {type(value).__name__}, not an array ({exc})", 500
        ) from None
