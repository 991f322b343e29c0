"""Reading a router's answer: the branch index, in every shape the v1 executor accepts."""

from __future__ import annotations

from typing import Any

ROUTE_ALL = -1  # send to every child
ROUTE_NONE = -2  # skip the children, return the current message


def route_from_json(answer: Any) -> int:
    """``data.ndarray`` ([n] or [[n]]), ``data.tensor.values[0]``, ``data.tftensor.intVal[0]`` or ``[n]``."""
    value: Any = None
    if isinstance(answer, list) and answer:
        value = answer[0]
    elif isinstance(answer, dict):
        data = answer.get("data") or {}
        if isinstance(data.get("ndarray"), list) and data["ndarray"]:
            value = data["ndarray"][0]
            if isinstance(value, list):
                value = value[0] if value else None
        elif isinstance(data.get("tensor"), dict) and data["tensor"].get("values"):
            value = data["tensor"]["values"][0]
        elif isinstance(data.get("tftensor"), dict) and data["tftensor"].get("intVal"):
            value = data["tftensor"]["intVal"][0]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise ValueError(f"no integer route in the answer (got {value!r})")
    return int(value)
