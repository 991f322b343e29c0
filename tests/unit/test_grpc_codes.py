"""The status tables gRPC answers are built from."""

from __future__ import annotations

import grpc
import pytest

from wharf.protocol.errors import GRPC_CODE_NAMES, GRPC_CODES, grpc_code, http_status_for_grpc


def test_code_table_is_grpcs_own() -> None:
    assert GRPC_CODES == {code.name: code.value[0] for code in grpc.StatusCode}
    assert all(GRPC_CODE_NAMES[number] == name for name, number in GRPC_CODES.items())


@pytest.mark.parametrize(
    ("http", "name"),
    [
        (400, "INVALID_ARGUMENT"),
        (404, "NOT_FOUND"),
        (418, "INVALID_ARGUMENT"),
        (500, "INTERNAL"),
        (501, "UNIMPLEMENTED"),
        (503, "UNAVAILABLE"),
        (504, "DEADLINE_EXCEEDED"),
        (599, "INTERNAL"),
    ],
)
def test_http_status_to_grpc_code(http: int, name: str) -> None:
    assert grpc_code(http) == GRPC_CODES[name]


def test_grpc_code_back_to_http_status() -> None:
    assert http_status_for_grpc(GRPC_CODES["UNAVAILABLE"]) == 503
    assert http_status_for_grpc(GRPC_CODES["DEADLINE_EXCEEDED"]) == 504
    assert http_status_for_grpc(GRPC_CODES["INTERNAL"]) == 500
    assert http_status_for_grpc(GRPC_CODES["DATA_LOSS"]) == 500
