"""``--parameters`` / ``PREDICTIVE_UNIT_PARAMETERS``: typed constructor arguments."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from wharf.protocol.errors import BAD_PARAMETER, MicroserviceError

_TRUE = {"y", "yes", "t", "true", "on", "1"}
_FALSE = {"n", "no", "f", "false", "off", "0"}


def _to_bool(value: Any) -> bool:
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"not a boolean (use one of {', '.join(sorted(_TRUE | _FALSE))})")


CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "INT": int,
    "FLOAT": float,
    "DOUBLE": float,
    "STRING": str,
    "BOOL": _to_bool,
}


class ParameterError(MicroserviceError):
    def __init__(self, message: str) -> None:
        super().__init__(message, 400, reason=BAD_PARAMETER)


def parse_parameters(text: str, source: str = "--parameters") -> dict[str, Any]:
    """Turn the JSON list ``[{"name", "value", "type"}, ...]`` into keyword arguments.

    Every error names ``source``, the parameter's position and name, and what was expected.
    """
    try:
        items = json.loads(text or "[]")
    except json.JSONDecodeError as exc:
        raise ParameterError(f"{source}: not valid JSON ({exc})") from None
    if not isinstance(items, list):
        raise ParameterError(f"{source}: expected a JSON list of {{name, value, type}} objects")
    params: dict[str, Any] = {}
    for i, item in enumerate(items):
        where = f"{source}[{i}]"
        if not isinstance(item, dict) or not {"name", "value", "type"} <= item.keys():
            raise ParameterError(f"{where}: expected an object with keys name, value and type, got {item!r}")
        name, value, kind = item["name"], item["value"], item["type"]
        where = f"{where} ({name})"
        if kind not in CONVERTERS:
            raise ParameterError(f"{where}: Bad model parameter type: {kind!r}; valid are {', '.join(CONVERTERS)}")
        try:
            params[name] = CONVERTERS[kind](value)
        except (TypeError, ValueError) as exc:
            raise ParameterError(
                f"{where}: Bad model parameter: {name} with value {value!r} can't be parsed as a {kind} ({exc})"
            ) from None
    return params
