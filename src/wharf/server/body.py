"""Finding the SeldonMessage in an HTTP request, in upstream's order.

1. multipart/form-data: fields JSON-decoded (``strData`` kept as text), files: ``binData``
   base64-encoded, any other file read as UTF-8 text;
2. a form field ``json=``; 3. a query parameter ``json=``; 4. the body as JSON.
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any
from urllib.parse import parse_qs

import orjson

from wharf.protocol.errors import CANT_FIND_JSON, INTERNAL_ERROR, INVALID_REQUEST, MicroserviceError, upstream_text


def _loads(raw: bytes | str, where: str) -> Any:
    """JSON from a form field or query parameter. Upstream decodes these with ``json.loads`` and
    lets its error escape, so a bad one is a 500 MICROSERVICE_INTERNAL_ERROR whose text is the
    standard library's message; we keep both and name the request part after it."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:  # what orjson refuses but upstream reads (NaN, Infinity) still parses, as upstream
        return json.loads(raw)
    except (ValueError, TypeError) as exc:
        raise MicroserviceError(
            upstream_text(str(exc), f"{where} is not valid JSON"), 500, reason=INTERNAL_ERROR
        ) from None


def _loads_body(raw: bytes) -> Any:
    """The body as JSON: Flask's ``get_json`` fails with upstream's 400 "Can't find JSON in data"."""
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        detail = f"request body is not valid JSON: {exc}"
        try:
            message = json.loads(raw)
        except (ValueError, TypeError):
            raise MicroserviceError(upstream_text(CANT_FIND_JSON, detail)) from None
    if message is None:  # get_json gives None for "null", which upstream takes for no JSON
        raise MicroserviceError(upstream_text(CANT_FIND_JSON, "the request body is JSON null"))
    return message


def _multipart(content_type: bytes, body: bytes) -> dict[str, Any]:
    from python_multipart import parse_form

    message: dict[str, Any] = {}

    def on_field(field: Any) -> None:
        name = field.field_name.decode()
        value = field.value or b""
        message[name] = value.decode() if name == "strData" else _loads(value, f"form field {name!r}")

    def on_file(file: Any) -> None:
        name = file.field_name.decode()
        file.file_object.seek(0)
        content = file.file_object.read()
        message[name] = base64.b64encode(content).decode() if name == "binData" else content.decode("utf-8")

    try:
        parse_form(
            {"Content-Type": content_type, "Content-Length": str(len(body)).encode()},
            io.BytesIO(body),
            on_field,
            on_file,
        )
    except Exception as exc:  # noqa: BLE001 - the parser raises several unrelated types
        if isinstance(exc, MicroserviceError):
            raise
        # Werkzeug reads what it can of a broken body, so upstream goes on with the fields it got
        # (usually none) and refuses the message: its text, then why.
        raise MicroserviceError(
            upstream_text(INVALID_REQUEST.format(request=message), f"multipart body could not be parsed: {exc}")
        ) from None
    return message


def extract_message(content_type: bytes, query: bytes, body: bytes) -> Any:
    """The request's SeldonMessage (or list/Feedback) as parsed JSON; 400 when there is none."""
    if b"multipart/form-data" in content_type:
        return _multipart(content_type, body)
    if b"application/x-www-form-urlencoded" in content_type:
        form = parse_qs(body.decode("latin-1"))
        if "json" in form:
            return _loads(form["json"][0], "form field 'json'")
    if query and b"json=" in query:
        params = parse_qs(query.decode("latin-1"))
        if "json" in params:
            return _loads(params["json"][0], "query parameter 'json'")
    if body and b"application/x-www-form-urlencoded" not in content_type:
        return _loads_body(body)
    raise MicroserviceError(
        upstream_text(CANT_FIND_JSON, "the request has no body, form field 'json' or query parameter 'json'")
    )
