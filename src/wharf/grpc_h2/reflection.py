"""gRPC server reflection (what grpcurl and friends use to discover services) for grpc_h2 servers.

grpcio-reflection's servicer does the work; it answers each request message on its own, so it
fits the server's one-answer-per-message streams.
"""

from __future__ import annotations

from typing import Callable, Iterable

from grpc_reflection.v1alpha import reflection, reflection_pb2

PATH = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"


def reflection_method(method_paths: Iterable[str]) -> dict[str, Callable[[bytes], bytes]]:
    """The reflection method listing the services of ``method_paths`` (``/pkg.Service/Method``)."""
    services = sorted({path.split("/")[1] for path in method_paths})
    servicer = reflection.ReflectionServicer([*services, reflection.SERVICE_NAME])

    def answer(data: bytes) -> bytes:
        request = reflection_pb2.ServerReflectionRequest.FromString(data)
        return next(servicer.ServerReflectionInfo(iter([request]), None)).SerializeToString()

    return {PATH: answer}
