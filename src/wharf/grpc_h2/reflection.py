"""gRPC server reflection (what grpcurl and friends use to discover services) for grpc_h2 servers.

grpcio-reflection's servicer does the work; it answers each request message on its own, so it
fits the server's one-answer-per-message streams. Services whose messages live in a descriptor
pool of their own (the V2 ``inference`` stubs) are found through ``pools``, after the default pool.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from google.protobuf import descriptor_pool
from grpc_reflection.v1alpha import reflection, reflection_pb2

PATH = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"


class _Pools:
    """The lookups reflection makes, tried in each pool in turn (a KeyError when none has it)."""

    def __init__(self, pools: list[Any]) -> None:
        self._pools = pools

    def _first(self, method: str, *args: Any) -> Any:
        for pool in self._pools:
            try:
                return getattr(pool, method)(*args)
            except KeyError:
                continue
        raise KeyError(args[0])

    def FindFileByName(self, name: str) -> Any:  # noqa: N802 - DescriptorPool's names
        return self._first("FindFileByName", name)

    def FindFileContainingSymbol(self, symbol: str) -> Any:  # noqa: N802
        return self._first("FindFileContainingSymbol", symbol)

    def FindMessageTypeByName(self, name: str) -> Any:  # noqa: N802
        return self._first("FindMessageTypeByName", name)

    def FindExtensionByNumber(self, message: Any, number: int) -> Any:  # noqa: N802
        return message.file.pool.FindExtensionByNumber(message, number)

    def FindAllExtensions(self, message: Any) -> Any:  # noqa: N802
        return message.file.pool.FindAllExtensions(message)


def reflection_method(method_paths: Iterable[str], pools: Iterable[Any] = ()) -> dict[str, Callable[[bytes], bytes]]:
    """The reflection method listing the services of ``method_paths`` (``/pkg.Service/Method``)."""
    services = sorted({path.split("/")[1] for path in method_paths})
    extra = list(pools)
    pool = _Pools([descriptor_pool.Default(), *extra]) if extra else None
    servicer = reflection.ReflectionServicer([*services, reflection.SERVICE_NAME], pool=pool)

    def answer(data: bytes) -> bytes:
        request = reflection_pb2.ServerReflectionRequest.FromString(data)
        return next(servicer.ServerReflectionInfo(iter([request]), None)).SerializeToString()

    return {PATH: answer}
