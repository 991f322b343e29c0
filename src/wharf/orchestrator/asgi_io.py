"""One request body read and one answer sent over ASGI, shared by the orchestrator's front ends
(the Seldon protocol in ``app``, TF Serving's and V2's in ``dialect_api``). Every answer carries
the CORS and ``nosniff`` headers upstream's executor adds to each response, and its length."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

CORS = [(b"access-control-allow-origin", b"*"), (b"x-content-type-options", b"nosniff")]


async def read_body(receive: Callable[[], Awaitable[dict]]) -> bytes:
    """The whole body; its size is bounded before it gets here, by the HTTP layer's limits."""
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def send_answer(send: Callable, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, *CORS, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
