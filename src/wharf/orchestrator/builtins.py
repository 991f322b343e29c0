"""The four built-in units, served inside the orchestrator with no server of their own.

Upstream's Go executor implements only RANDOM_ABTEST; its legacy Java engine (removed in 1.9) also
served SIMPLE_MODEL (a fixed answer), SIMPLE_ROUTER (always the first child) and AVERAGE_COMBINER
(the element-wise mean of the children's 2-D tensor or ndarray). The functions here reproduce what
a client saw from them, on SeldonMessages as dicts; :class:`Builtins` carries them over the
walker's wire (JSON bytes or serialized protos). Meta follows the rule the component server keeps:
a unit that answers copies the request's tags, metrics and requestPath and adds its own entry.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from wharf.deployment.graph import Predictor, Unit
from wharf.protocol.message import response_meta

SIMPLE_MODEL = "SIMPLE_MODEL"
SIMPLE_ROUTER = "SIMPLE_ROUTER"
RANDOM_ABTEST = "RANDOM_ABTEST"
AVERAGE_COMBINER = "AVERAGE_COMBINER"
ROUTERS = (SIMPLE_ROUTER, RANDOM_ABTEST)
# Nodes whose route shows in meta.routing, like a user's router or combiner.
ROUTING = (SIMPLE_ROUTER, RANDOM_ABTEST, AVERAGE_COMBINER)

# SIMPLE_MODEL's fixed answer, as the Java engine built it: three class scores in a 1x3 tensor,
# status SUCCESS, and three example custom metrics.
SIMPLE_MODEL_NAMES = ("class0", "class1", "class2")
SIMPLE_MODEL_VALUES = (0.1, 0.9, 0.5)
SIMPLE_MODEL_METRICS = (
    {"key": "mymetric_counter", "type": "COUNTER", "value": 1},
    {"key": "mymetric_gauge", "type": "GAUGE", "value": 100},
    {"key": "mymetric_timer", "type": "TIMER", "value": 22.1},
)
SUCCESS = {"code": 0, "info": "", "reason": "", "status": "SUCCESS"}

# The Java engine's texts for a combiner that cannot average (all answered 500). Its shape check
# says "batch length" for the column count too; the text is kept as clients saw it.
NO_INPUTS = "Combiner received no inputs"
NO_SHAPE = "Combiner cannot extract data shape"
NOT_2D = "Combiner received data that is not 2 dimensional"
SHAPE_MISMATCH = "Expected batch length {expected} but found {found}"
# The Java engine read a non-number as 0.0 without a word; Wharf refuses it instead.
NOT_NUMERIC = "Combiner received data that is not numeric"


class BuiltinError(Exception):
    """A built-in unit cannot answer; ``status`` and ``info`` go into the executor's error body."""

    def __init__(self, status: int, info: str) -> None:
        super().__init__(info)
        self.status = status
        self.info = info


def _meta(message: Any) -> dict[str, Any] | None:
    meta = message.get("meta") if isinstance(message, dict) else None
    return meta if isinstance(meta, dict) else None


def simple_model(request: dict[str, Any], request_path: dict[str, str]) -> dict[str, Any]:
    """The fixed answer; a ``strData`` or ``binData`` request is echoed instead of the tensor."""
    answer: dict[str, Any] = {
        "status": dict(SUCCESS),
        "meta": response_meta(
            _meta(request), tags=[], metrics=[dict(m) for m in SIMPLE_MODEL_METRICS], request_path=request_path
        ),
    }
    if "binData" in request:
        answer["binData"] = request["binData"]
    elif "strData" in request:
        answer["strData"] = request["strData"]
    else:
        answer["data"] = {
            "names": list(SIMPLE_MODEL_NAMES),
            "tensor": {"shape": [1, len(SIMPLE_MODEL_VALUES)], "values": list(SIMPLE_MODEL_VALUES)},
        }
    return answer


def ab_test_ratio(parameters: Sequence[dict[str, Any]], node: str) -> float:
    """``ratioA`` as upstream's executor reads it: used when it is the only parameter, else 0.5."""
    if len(parameters) != 1 or parameters[0].get("name") != "ratioA":
        return 0.5
    value = parameters[0].get("value")
    try:
        if isinstance(value, bool):
            raise ValueError
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        # upstream fails each request with Go's parse error; its text comes first
        raise BuiltinError(
            500,
            f'strconv.ParseFloat: parsing "{value}": invalid syntax: RANDOM_ABTEST node {node!r}: '
            f"parameters[0] (ratioA) must be a number, the share of requests for the first child",
        ) from None


def ab_test_route(ratio: float, draw: Callable[[], float] = random.random) -> int:
    """Child 0 with probability ``ratio``, else child 1."""
    return 0 if draw() < ratio else 1


def average(messages: Sequence[Any], names: Sequence[str], request_path: dict[str, str]) -> dict[str, Any]:
    """The element-wise mean of the children's 2-D ``data.tensor`` or ``data.ndarray``.

    The answer takes the first child's data kind, names and status; meta is the children's merged
    (tags, requestPath, metrics) plus this unit's requestPath entry.
    """
    if not messages:
        raise BuiltinError(500, f"{NO_INPUTS}: the AVERAGE_COMBINER node has no children to average")

    def child(i: int) -> str:
        return f"child {i} ({names[i]})" if i < len(names) else f"child {i}"

    arrays = [_matrix(m, child(i)) for i, m in enumerate(messages)]
    (rows, cols), _ = arrays[0]
    for i, ((found_rows, found_cols), _) in enumerate(arrays[1:], 1):
        for expected, found in ((rows, found_rows), (cols, found_cols)):
            if expected != found:
                raise BuiltinError(
                    500,
                    SHAPE_MISMATCH.format(expected=expected, found=found)
                    + f": {child(i)} has shape [{found_rows}, {found_cols}], {child(0)} [{rows}, {cols}]",
                )
    count = len(arrays)
    flat = [sum(values[k] for _, values in arrays) / count for k in range(rows * cols)]
    first = messages[0]
    data: dict[str, Any] = {}
    if first["data"].get("names"):
        data["names"] = list(first["data"]["names"])
    if "tensor" in first["data"]:
        data["tensor"] = {"shape": [rows, cols], "values": flat}
    else:
        data["ndarray"] = [flat[r * cols : (r + 1) * cols] for r in range(rows)]
    answer: dict[str, Any] = {
        "meta": response_meta(_merged_meta(messages), tags=[], metrics=[], request_path=request_path),
        "data": data,
    }
    if isinstance(first.get("status"), dict):
        answer["status"] = first["status"]
    return answer


def _merged_meta(messages: Sequence[Any]) -> dict[str, Any]:
    """The children's tags and requestPath merged in order, metrics concatenated, the first puid."""
    merged: dict[str, Any] = {"tags": {}, "requestPath": {}, "metrics": []}
    for i, message in enumerate(messages):
        meta = _meta(message) or {}
        if i == 0 and meta.get("puid"):
            merged["puid"] = meta["puid"]
        merged["tags"].update(meta.get("tags") or {})
        merged["requestPath"].update(meta.get("requestPath") or {})
        merged["metrics"].extend(meta.get("metrics") or [])
    return merged


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BuiltinError(500, f"{NOT_NUMERIC}: {where} is {value!r}")
    return float(value)


def _matrix(message: Any, who: str) -> tuple[tuple[int, int], list[float]]:
    """A child's data as (rows, columns) and its values row by row."""
    data = message.get("data") if isinstance(message, dict) else None
    if not isinstance(data, dict) or not ("tensor" in data or "ndarray" in data):
        kinds = [k for k in ("data", "strData", "binData", "jsonData") if isinstance(message, dict) and k in message]
        raise BuiltinError(
            500,
            f"{NO_SHAPE}: {who} answered with {' and '.join(kinds) or 'no data'}; "
            f"only data.tensor and data.ndarray can be averaged",
        )
    if "tensor" in data:
        tensor = data["tensor"] if isinstance(data["tensor"], dict) else {}
        shape, values = list(tensor.get("shape") or []), list(tensor.get("values") or [])
        if len(shape) != 2 or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
            raise BuiltinError(500, f"{NOT_2D}: {who} has a tensor of shape {shape}")
        if shape[0] * shape[1] != len(values):
            raise BuiltinError(500, f"{NO_SHAPE}: {who} has a tensor of shape {shape} with {len(values)} values")
        return (shape[0], shape[1]), [_number(v, f"{who} data.tensor.values[{i}]") for i, v in enumerate(values)]
    ndarray = data["ndarray"]
    if not isinstance(ndarray, list) or not ndarray or not all(isinstance(row, list) for row in ndarray):
        raise BuiltinError(500, f"{NOT_2D}: {who} has data.ndarray {_short(ndarray)}, not a list of rows")
    if len({len(row) for row in ndarray}) != 1:
        raise BuiltinError(500, f"{NOT_2D}: {who} has data.ndarray rows of lengths {[len(row) for row in ndarray]}")
    values = [_number(v, f"{who} data.ndarray[{r}][{c}]") for r, row in enumerate(ndarray) for c, v in enumerate(row)]
    return (len(ndarray), len(ndarray[0])), values


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Builtins:
    """The built-ins of one predictor, on the walker's wire; errors raise :class:`BuiltinError`."""

    def __init__(self, predictor: Predictor, wire: Any) -> None:
        self.wire = wire
        # requestPath names the unit's image, as for any unit; a built-in usually has none ("")
        self.images = {name: str(c.get("image") or "") for name, c in predictor.containers.items()}

    def _path(self, unit: Unit) -> dict[str, str]:
        return {unit.name: self.images.get(unit.name, "")}

    def transform_input(self, unit: Unit, body: bytes) -> bytes:
        """SIMPLE_MODEL's answer to ``body``."""
        try:
            request = self.wire.decode(body)
        except ValueError as exc:
            raise BuiltinError(
                400, f"Invalid JSON: the request to {unit.implementation} node {unit.name!r}: {exc}"
            ) from None
        if not isinstance(request, dict):
            raise BuiltinError(
                400,
                f"Invalid JSON: the request to {unit.implementation} node {unit.name!r} is "
                f"{type(request).__name__}, not a SeldonMessage object",
            )
        return self.wire.encode(simple_model(request, self._path(unit)))

    def route(self, unit: Unit) -> int:
        """The child a SIMPLE_ROUTER (always the first) or RANDOM_ABTEST sends the request to."""
        if unit.implementation == SIMPLE_ROUTER:
            return 0
        return ab_test_route(ab_test_ratio(unit.parameters, unit.name))

    def aggregate(self, unit: Unit, outputs: Sequence[bytes]) -> bytes:
        """AVERAGE_COMBINER's answer from its children's answers (in child order)."""
        names = [c.name for c in unit.children]
        messages = []
        for i, output in enumerate(outputs):
            try:
                messages.append(self.wire.decode(output))
            except ValueError as exc:
                raise BuiltinError(500, f"{NO_SHAPE}: child {i} ({names[i]}) answered with {exc}") from None
        return self.wire.encode(average(messages, names, self._path(unit)))
