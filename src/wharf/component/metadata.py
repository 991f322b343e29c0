"""Model metadata: defaults from the image, ``init_metadata()``, ``MODEL_METADATA``, schema check."""

from __future__ import annotations

import logging
from typing import Any

import jsonschema
import yaml

from wharf.protocol.image_ref import split_image

log = logging.getLogger(__name__)

_V2_DATATYPES = [
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
]
_KNOWN_TYPES = ["tensor", "ndarray", "tftensor", "jsonData", "strData", "binData"]


def _closed(properties: dict[str, Any], required: tuple[str, ...] = ("messagetype",)) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return schema


# The same alternatives as upstream's schema (seldon-core 1.19.0 ``metadata.py``, checked against
# the real server): closed objects, and a V2-style tensor whose fields are all optional.
_IO_ITEM = {
    "anyOf": [
        _closed(
            {
                "messagetype": {"type": "string", "enum": ["tensor", "ndarray", "tftensor"]},
                "schema": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "names": {"type": "array", "items": {"type": "string"}},
                        "shape": {"type": "array", "items": {"type": "integer"}},
                    },
                },
            }
        ),
        _closed({"messagetype": {"type": "string", "enum": ["jsonData"]}, "schema": {"type": "object"}}),
        _closed({"messagetype": {"type": "string", "enum": ["strData"]}}),
        _closed({"messagetype": {"type": "string", "enum": ["binData"]}}),
        _closed({"messagetype": {"type": "string", "not": {"enum": _KNOWN_TYPES}}, "schema": {"type": "object"}}),
        _closed(
            {
                "name": {"type": "string"},
                "datatype": {"type": "string", "enum": _V2_DATATYPES},
                "shape": {"type": "array", "items": {"type": "integer"}},
            },
            required=(),
        ),
    ]
}
METADATA_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "versions": {"type": "array", "items": {"type": "string"}},
        "platform": {"type": "string"},
        "inputs": {"type": "array", "items": _IO_ITEM},
        "outputs": {"type": "array", "items": _IO_ITEM},
        "custom": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}


def build_metadata(image: str, from_user: dict[str, Any] | None, from_env: str | None) -> tuple[dict | None, str]:
    """The metadata document, or ``(None, why)`` when it fails the schema (served as a 500)."""
    name, version = split_image(image)
    meta: dict[str, Any] = {
        "name": name,
        "versions": [version],
        "platform": "",
        "inputs": [],
        "outputs": [],
        "custom": {},
    }
    # Like upstream, a broken MODEL_METADATA or a non-dict init_metadata() is logged and ignored.
    try:
        env_meta = yaml.safe_load(from_env) if from_env else {}
    except yaml.YAMLError as exc:
        log.error("MODEL_METADATA is not valid YAML/JSON, ignored: %s", exc)
        env_meta = {}
    if env_meta is not None and not isinstance(env_meta, dict):
        log.error("MODEL_METADATA must be a mapping, ignored: %r", env_meta)
        env_meta = {}
    if from_user is not None and not isinstance(from_user, dict):
        log.error("init_metadata() must return a dict, ignored: %r", from_user)
        from_user = {}
    meta.update(from_user or {})
    meta.update(env_meta or {})
    errors = sorted(jsonschema.Draft7Validator(METADATA_SCHEMA).iter_errors(meta), key=lambda e: list(e.path))
    if errors:
        why = "; ".join(f"{'/'.join(map(str, e.path)) or 'metadata'}: {e.message}" for e in errors)
        log.error("model metadata is invalid and will not be served: %s", why)
        return None, why
    return meta, ""
