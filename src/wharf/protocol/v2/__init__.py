"""The Open Inference Protocol (V2: KServe, Triton, MLServer) as data: tensors as numpy arrays.

Stable names, imported by the component server and the orchestrator:

- ``tensor``: ``DATATYPES`` (V2 datatype -> numpy dtype), ``Tensor``, ``InferRequest``,
  ``InferResponse``, ``RequestedOutput``, ``Limits``/``DEFAULT_LIMITS``, ``V2Error`` (message +
  HTTP status; answered as ``{"error": ...}``), ``tensor_from_numpy``, ``element_count``.
- ``json_codec``: REST bodies, with the binary data extension (``parse_request``, ``split_body``,
  ``request_from_json``/``request_to_json``, ``response_from_json``/``response_to_json``,
  ``binary_outputs``, ``HEADER_LENGTH``).
- ``proto_codec``: gRPC messages of ``inference_pb2`` (``request_from_proto``/``request_to_proto``,
  ``response_from_proto``/``response_to_proto``).

Every decoder checks datatype, shape against data, counts and BYTES lengths before allocating,
and raises ``V2Error`` naming the tensor and the field at fault.
"""

from wharf.protocol.v2.tensor import (
    DATATYPES,
    DEFAULT_LIMITS,
    InferRequest,
    InferResponse,
    Limits,
    RequestedOutput,
    Tensor,
    V2Error,
    element_count,
    tensor_from_numpy,
)

__all__ = [
    "DATATYPES",
    "DEFAULT_LIMITS",
    "InferRequest",
    "InferResponse",
    "Limits",
    "RequestedOutput",
    "Tensor",
    "V2Error",
    "element_count",
    "tensor_from_numpy",
]
