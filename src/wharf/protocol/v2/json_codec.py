"""V2 REST bodies <-> ``InferRequest``/``InferResponse``, with the binary data extension.

JSON ``data`` is flat in row-major order, or nested lists of the same elements (flattened here).
The binary data extension (what tritonclient's HTTP client sends by default): the body is a JSON
header of ``Inference-Header-Content-Length`` bytes, then the raw bytes of each tensor whose
``parameters.binary_data_size`` says how many, in the order of the tensors. An output is sent that
way when its requested output has ``parameters.binary_data: true``, or the request has
``parameters.binary_data_output: true``.
"""

from __future__ import annotations

from typing import Any

import orjson

from wharf.protocol.v2.tensor import (
    DATATYPES,
    DEFAULT_LIMITS,
    InferRequest,
    InferResponse,
    Limits,
    RequestedOutput,
    Tensor,
    V2Error,
    bytes_array,
    cast_values,
    check_datatype,
    check_parameters,
    check_shape,
    element_bytes,
    from_raw,
    to_raw,
    wants_str,
)

HEADER_LENGTH = "inference-header-content-length"  # HTTP header name, lower case
BINARY_SIZE = "binary_data_size"


def split_body(body: bytes, header_length: str | int | None) -> tuple[Any, memoryview]:
    """The parsed JSON header and the binary part after it (empty without the extension)."""
    if header_length is None:
        return _loads(body, "request body"), memoryview(b"")
    try:
        n = int(header_length)
    except ValueError:
        raise V2Error(f"Inference-Header-Content-Length {str(header_length)[:40]!r} is not a number") from None
    if not 0 <= n <= len(body):
        raise V2Error(f"Inference-Header-Content-Length {n} is outside the body of {len(body)} bytes")
    view = memoryview(body)
    return _loads(view[:n], "JSON header"), view[n:]


def _loads(data: bytes | memoryview, what: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise V2Error(f"{what} is not valid JSON: {exc}") from None


def parse_request(body: bytes, header_length: str | int | None = None, limits: Limits = DEFAULT_LIMITS) -> InferRequest:
    obj, binary = split_body(body, header_length)
    return request_from_json(obj, binary, limits)


def request_from_json(obj: Any, binary: bytes | memoryview = b"", limits: Limits = DEFAULT_LIMITS) -> InferRequest:
    """An inference request from its JSON form (already parsed) and the binary part, if any."""
    if not isinstance(obj, dict):
        raise V2Error('the request body must be a JSON object with "inputs"')
    inputs = _tensors(obj.get("inputs"), "inputs", "input", binary, limits)
    outputs = []
    raw_outputs = obj.get("outputs")
    if raw_outputs is not None:
        if not isinstance(raw_outputs, list) or len(raw_outputs) > limits.max_inputs:
            raise V2Error(f"outputs must be a list of at most {limits.max_inputs} objects")
        for i, item in enumerate(raw_outputs):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise V2Error(f'outputs[{i}] must be an object with a "name" string')
            outputs.append(
                RequestedOutput(item["name"], check_parameters(f"outputs[{i}]", item.get("parameters"), limits))
            )
    rid = obj.get("id")
    if rid is not None and not isinstance(rid, str):
        raise V2Error("id must be a string")
    return InferRequest(inputs, outputs, rid, check_parameters("request", obj.get("parameters"), limits))


def response_from_json(obj: Any, binary: bytes | memoryview = b"", limits: Limits = DEFAULT_LIMITS) -> InferResponse:
    """An inference response from its JSON form (what a V2 server answered)."""
    if not isinstance(obj, dict) or not isinstance(obj.get("model_name"), str):
        raise V2Error('the response must be a JSON object with "model_name" and "outputs"')
    outputs = _tensors(obj.get("outputs"), "outputs", "output", binary, limits)
    return InferResponse(
        obj["model_name"],
        outputs,
        obj.get("model_version") or "",
        obj.get("id"),
        check_parameters("response", obj.get("parameters"), limits),
    )


def _tensors(items: Any, key: str, noun: str, binary: bytes | memoryview, limits: Limits) -> list[Tensor]:
    if not isinstance(items, list):
        raise V2Error(f"{key} must be a list of tensors")
    if len(items) > limits.max_inputs:
        raise V2Error(f"{len(items)} {key}, more than the limit of {limits.max_inputs}")
    tensors, offset, seen = [], 0, set()
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise V2Error(f"{key}[{i}] must be an object")
        name = item.get("name")
        if not isinstance(name, str):
            raise V2Error(f"{key}[{i}]: name must be a string")
        where = f"{noun} {name!r}"
        if name in seen:
            raise V2Error(f"{where}: the name appears twice in {key}")
        seen.add(name)
        datatype = check_datatype(where, item.get("datatype"))
        shape, count = check_shape(where, item.get("shape"), limits)
        params = check_parameters(where, item.get("parameters"), limits)
        size = params.get(BINARY_SIZE)
        if size is not None:
            if type(size) is not int or size < 0 or offset + size > len(binary):
                raise V2Error(
                    f"{where}: binary_data_size {size!r} does not fit the {len(binary) - offset} "
                    f"bytes of binary data left after the JSON header"
                )
            data = from_raw(where, datatype, shape, count, binary[offset : offset + size], wants_str(params))
            offset += size
            params = {k: v for k, v in params.items() if k != BINARY_SIZE}
        else:
            if "data" not in item:
                raise V2Error(f"{where}: data is missing (and no binary_data_size parameter)")
            data = _decode_data(where, datatype, shape, count, item["data"], limits, wants_str(params))
        tensors.append(Tensor(name, datatype, shape, data, params))
    if offset != len(binary):
        raise V2Error(f"{len(binary) - offset} bytes of binary data after the JSON header belong to no {noun}")
    return tensors


def _decode_data(
    where: str, datatype: str, shape: tuple[int, ...], count: int, data: Any, limits: Limits, as_str: bool
) -> Any:
    flat = _flatten(where, data, limits)
    if len(flat) != count:
        raise V2Error(f"{where}: shape {list(shape)} holds {count} elements but data has {len(flat)}")
    if datatype == "BYTES":
        return bytes_array(where, flat, count, shape, as_str)
    return cast_values(where, flat, datatype, shape)


def _flatten(where: str, data: Any, limits: Limits) -> list[Any]:
    """Row-major elements of flat or nested lists (nesting no deeper than the rank limit)."""
    if not isinstance(data, list):
        if isinstance(data, (int, float, str, bool)):
            return [data]  # a scalar: shape [] or [1]
        raise V2Error(f"{where}: data must be a list, got {type(data).__name__}")
    flat = data
    for _ in range(limits.max_rank):
        if not flat or not isinstance(flat[0], list):
            return flat
        nxt: list[Any] = []
        for part in flat:
            if not isinstance(part, list):
                raise V2Error(f"{where}: data mixes lists and values at the same depth")
            nxt.extend(part)
        flat = nxt
    raise V2Error(f"{where}: data is nested deeper than the limit of {limits.max_rank}")


def tensor_to_json(tensor: Tensor, binary: bool = False) -> tuple[dict[str, Any], bytes]:
    """A tensor's JSON form, and its raw bytes when sent by the binary extension (else b"")."""
    where = f"output {tensor.name!r}"
    out: dict[str, Any] = {"name": tensor.name, "datatype": tensor.datatype, "shape": list(tensor.shape)}
    params = dict(tensor.parameters)
    raw = b""
    if binary:
        raw = to_raw(where, tensor)
        params[BINARY_SIZE] = len(raw)
    elif tensor.datatype == "BYTES":
        texts = []
        for i, item in enumerate(element_bytes(where, tensor.data)):
            try:
                texts.append(item.decode())
            except UnicodeDecodeError:
                raise V2Error(
                    f"{where}: BYTES element {i} is not UTF-8 text, which JSON cannot carry; "
                    "ask for it with the binary_data parameter",
                    500,
                ) from None
        out["data"] = texts
    else:
        out["data"] = tensor.data.ravel().tolist()
    if params:
        out["parameters"] = params
    return out, raw


def binary_outputs(request: InferRequest) -> set[str] | bool:
    """Which outputs the client asked to get as binary data: a set of names, or True for all."""
    if request.parameters.get("binary_data_output") is True:
        return True
    return {o.name for o in request.outputs if o.parameters.get("binary_data") is True}


def response_to_json(response: InferResponse, binary: set[str] | bool = False) -> tuple[dict[str, Any], bytes]:
    """The response's JSON form and the binary part that follows it (b"" when no output is binary)."""
    outputs, parts = [], []
    for t in response.outputs:
        obj, raw = tensor_to_json(t, binary is True or (binary is not False and t.name in binary))
        outputs.append(obj)
        if raw or BINARY_SIZE in obj.get("parameters", {}):
            parts.append(raw)
    body: dict[str, Any] = {"model_name": response.model_name}
    if response.model_version:
        body["model_version"] = response.model_version
    if response.id is not None:
        body["id"] = response.id
    if response.parameters:
        body["parameters"] = response.parameters
    body["outputs"] = outputs
    return body, b"".join(parts)


def request_to_json(request: InferRequest, binary: bool = False) -> tuple[dict[str, Any], bytes]:
    """The request's JSON form and binary part (a client's or a forwarding node's side)."""
    inputs, parts = [], []
    for t in request.inputs:
        obj, raw = tensor_to_json(t, binary)
        inputs.append(obj)
        parts.append(raw)
    body: dict[str, Any] = {}
    if request.id is not None:
        body["id"] = request.id
    if request.parameters:
        body["parameters"] = request.parameters
    body["inputs"] = inputs
    if request.outputs:
        body["outputs"] = [
            {"name": o.name, **({"parameters": o.parameters} if o.parameters else {})} for o in request.outputs
        ]
    return body, b"".join(parts)


__all__ = [
    "DATATYPES",
    "HEADER_LENGTH",
    "BINARY_SIZE",
    "split_body",
    "parse_request",
    "request_from_json",
    "response_from_json",
    "tensor_to_json",
    "binary_outputs",
    "response_to_json",
    "request_to_json",
]
