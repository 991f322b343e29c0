"""The ``contract.json`` data contract: validation, random requests, response checks.

A contract describes the columns a model takes (``features``) and the columns it answers
with (``targets``)::

    {"features": [{"name": "x", "ftype": "continuous", "dtype": "FLOAT", "range": [0, 1]},
                  {"name": "colour", "ftype": "categorical", "values": ["red", "blue"]}],
     "targets":  [{"name": "proba", "ftype": "continuous", "range": [0, 1], "repeat": 2}]}

Everything here is a pure function of plain data: no file, network or global random state.
Randomness comes from a ``numpy.random.Generator`` handed in by the caller, so a seeded
generator gives the same batch every time. :mod:`wharf.contract.tester` is the I/O shell that
sends the requests built here and reports the problems found here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

FTYPES = ("continuous", "categorical")
DTYPES = ("FLOAT", "INT")
DECIMALS = 3
_INF_WORDS = {"inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}


class ContractError(ValueError):
    """A contract that cannot be used; ``problems`` lists every fault found, each naming its field."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class Feature:
    """One column (or block of columns, with ``shape``) of a contract, after ``repeat`` is unfolded.

    ``low``/``high`` are ``-inf``/``inf`` when that side is unbounded. ``source`` names the entry
    of the contract file it came from, e.g. ``features[2]``, for error messages.
    """

    name: str
    ftype: str
    dtype: str = "FLOAT"
    low: float = -math.inf
    high: float = math.inf
    values: tuple[Any, ...] = ()
    shape: tuple[int, ...] | None = None
    source: str = ""

    @property
    def continuous(self) -> bool:
        return self.ftype == "continuous"

    @property
    def width(self) -> int:
        """How many flat values one row holds for this feature (``prod(shape)``, else 1)."""
        if not self.continuous or not self.shape:
            return 1
        return int(np.prod(self.shape))

    def column_labels(self) -> list[str]:
        if self.width == 1:
            return [self.name]
        return [f"{self.name}[{i}]" for i in range(self.width)]


@dataclass(frozen=True)
class Contract:
    """A validated contract with ``repeat`` unfolded."""

    features: tuple[Feature, ...]
    targets: tuple[Feature, ...] = ()

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def target_names(self) -> list[str]:
        return [t.name for t in self.targets]

    @property
    def target_labels(self) -> list[str]:
        """One label per flat response column: the target name, or ``name[i]`` inside a shaped target."""
        return [label for t in self.targets for label in t.column_labels()]

    @property
    def numeric(self) -> bool:
        """True when every feature is continuous (a ``tensor`` payload is possible)."""
        return all(f.continuous for f in self.features)


# ---------------------------------------------------------------------------------------------
# Loading and validation


def parse_contract(text: str | bytes, source: str = "contract") -> Contract:
    """Parse the JSON text of a contract file and validate it (see :func:`load_contract`)."""
    try:
        obj = json.loads(text.decode("utf-8-sig") if isinstance(text, bytes) else text)
    except json.JSONDecodeError as exc:
        raise ContractError([f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"]) from None
    except UnicodeDecodeError as exc:
        raise ContractError([f"{source}: not UTF-8 text: {exc}"]) from None
    return load_contract(obj)


def load_contract(obj: Any) -> Contract:
    """Validate a contract dict and unfold ``repeat``; raise :class:`ContractError` listing every fault."""
    if isinstance(obj, Contract):
        return obj
    problems: list[str] = []
    if not isinstance(obj, Mapping):
        raise ContractError([f"contract: expected a JSON object with 'features' and 'targets', got {_kind(obj)}"])
    # Extra keys (descriptions, comments) are tolerated, as upstream does.
    features = _load_list(obj, "features", problems, required=True)
    targets = _load_list(obj, "targets", problems, required=False)
    if features:
        _check_joinable(features, problems)
    if problems:
        raise ContractError(problems)
    return Contract(features=tuple(features), targets=tuple(targets))


def validate_contract(obj: Any) -> list[str]:
    """Every fault of a contract dict as a list of messages; empty when it is usable."""
    try:
        load_contract(obj)
    except ContractError as exc:
        return exc.problems
    return []


def unfold_contract(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The contract dict with ``repeat`` expanded, as plain dicts (input is not modified).

    A feature ``x`` with ``repeat: 3`` becomes ``x1``, ``x2``, ``x3``; a target ``p`` with
    ``repeat: 3`` becomes ``p:0``, ``p:1``, ``p:2``. Entries without ``repeat`` are copied as they are.
    """
    out: dict[str, Any] = {k: v for k, v in obj.items() if k not in ("features", "targets")}
    for field in ("features", "targets"):
        unfolded = []
        for entry in obj.get(field) or []:
            repeat = entry.get("repeat") if isinstance(entry, Mapping) else None
            if repeat is None:
                unfolded.append(dict(entry) if isinstance(entry, Mapping) else entry)
                continue
            for name in _repeated_names(field, entry.get("name", ""), repeat):
                copy = {k: v for k, v in entry.items() if k != "repeat"}
                copy["name"] = name
                unfolded.append(copy)
        out[field] = unfolded
    return out


def _repeated_names(field: str, name: str, repeat: int) -> list[str]:
    if field == "features":
        return [f"{name}{i}" for i in range(1, repeat + 1)]
    return [f"{name}:{i}" for i in range(repeat)]


def _load_list(obj: Mapping[str, Any], field: str, problems: list[str], required: bool) -> list[Feature]:
    if field not in obj or obj[field] is None:
        if required:
            problems.append(f"{field}: missing; expected a list of {field[:-1]} definitions")
        return []
    entries = obj[field]
    if not isinstance(entries, list):
        problems.append(f"{field}: expected a list, got {_kind(entries)}")
        return []
    if required and not entries:
        problems.append(f"{field}: expected at least one {field[:-1]}")
    out: list[Feature] = []
    for index, entry in enumerate(entries):
        where = f"{field}[{index}]"
        feature = _load_feature(entry, where, problems)
        if feature is None:
            continue
        repeat = entry.get("repeat")
        if repeat is None:
            out.append(feature)
        else:
            for name in _repeated_names(field, feature.name, repeat):
                out.append(_replace_name(feature, name))
    return out


def _replace_name(feature: Feature, name: str) -> Feature:
    return Feature(
        name, feature.ftype, feature.dtype, feature.low, feature.high, feature.values, feature.shape, feature.source
    )


def _load_feature(entry: Any, where: str, problems: list[str]) -> Feature | None:
    if not isinstance(entry, Mapping):
        problems.append(f"{where}: expected an object with 'name' and 'ftype', got {_kind(entry)}")
        return None
    start = len(problems)

    name = entry.get("name")
    if not isinstance(name, str) or not name:
        problems.append(f"{where}.name: expected a non-empty string, got {_show(name)}")

    ftype = entry.get("ftype")
    if ftype not in FTYPES:
        problems.append(f"{where}.ftype: expected one of {', '.join(FTYPES)}, got {_show(ftype)}")

    repeat = entry.get("repeat")
    if repeat is not None and (not _is_int(repeat) or repeat < 1):
        problems.append(f"{where}.repeat: expected a whole number >= 1, got {_show(repeat)}")

    dtype, low, high, values, shape = "FLOAT", -math.inf, math.inf, (), None
    if ftype == "continuous":
        dtype = entry.get("dtype", "FLOAT")
        if dtype not in DTYPES:
            problems.append(f"{where}.dtype: expected FLOAT or INT, got {_show(dtype)}")
        if "range" in entry:
            low, high = _load_range(entry["range"], f"{where}.range", problems)
        if dtype == "INT" and math.isfinite(low) and math.isfinite(high) and math.ceil(low) > math.floor(high):
            problems.append(f"{where}.range: no whole number lies within [{_num(low)}, {_num(high)}] for dtype INT")
        if "shape" in entry:
            shape = _load_shape(entry["shape"], f"{where}.shape", problems)
    elif ftype == "categorical":
        values = _load_values(entry.get("values"), f"{where}.values", problems)

    if len(problems) > start:
        return None
    return Feature(name=name, ftype=ftype, dtype=dtype, low=low, high=high, values=values, shape=shape, source=where)


def _load_range(value: Any, where: str, problems: list[str]) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        problems.append(f'{where}: expected two bounds [low, high] (a number or "inf" each), got {_show(value)}')
        return -math.inf, math.inf
    bounds = []
    for i, (bound, side) in enumerate(zip(value, ("lower", "upper"))):
        parsed = _parse_bound(bound)
        if parsed is None:
            problems.append(f'{where}[{i}]: {side} bound must be a number or "inf", got {_show(bound)}')
            return -math.inf, math.inf
        bounds.append(parsed)
    # Upstream writes "inf" for an open side whatever the sign; any infinity opens that side.
    low = -math.inf if math.isinf(bounds[0]) else bounds[0]
    high = math.inf if math.isinf(bounds[1]) else bounds[1]
    if low > high:
        problems.append(f"{where}: lower bound {_num(low)} is above upper bound {_num(high)}")
    return low, high


def _parse_bound(bound: Any) -> float | None:
    if isinstance(bound, str):
        return math.inf if bound.strip().lower() in _INF_WORDS else None
    if isinstance(bound, bool) or not isinstance(bound, (int, float)):
        return None
    value = float(bound)
    return None if math.isnan(value) else value


def _load_shape(value: Any, where: str, problems: list[str]) -> tuple[int, ...] | None:
    if not isinstance(value, (list, tuple)) or not value or not all(_is_int(d) and d >= 1 for d in value):
        problems.append(f"{where}: expected a non-empty list of whole numbers >= 1, got {_show(value)}")
        return None
    return tuple(int(d) for d in value)


def _load_values(value: Any, where: str, problems: list[str]) -> tuple[Any, ...]:
    if not isinstance(value, (list, tuple)) or not value:
        problems.append(f"{where}: expected a non-empty list of category values, got {_show(value)}")
        return ()
    for i, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            problems.append(f"{where}[{i}]: expected a string or number, got {_show(item)}")
            return ()
    return tuple(value)


def _check_joinable(features: list[Feature], problems: list[str]) -> None:
    """Feature blocks are joined along axis 1, so every block needs the same trailing dimensions."""
    first = features[0]
    first_tail = _block_shape(first)[1:]
    for feature in features[1:]:
        tail = _block_shape(feature)[1:]
        if tail != first_tail:
            problems.append(
                f"{feature.source}.shape: {list(_block_shape(feature))} cannot be joined column-wise with "
                f"{first.source} ({list(_block_shape(first))}); all features need the same dimensions after the first"
            )
            return


def _block_shape(feature: Feature) -> tuple[int, ...]:
    """Shape of one row's block for a feature: ``shape`` if given (continuous), else ``(1,)``."""
    if feature.continuous and feature.shape:
        return feature.shape
    return (1,)


# ---------------------------------------------------------------------------------------------
# Generating requests


def generate_feature(feature: Feature, n: int, rng: np.random.Generator) -> np.ndarray:
    """Random values for one feature, shaped ``[n] + shape`` (or ``[n, 1]``).

    Continuous: both sides open -> standard normal; only the lower side open -> ``high``
    minus a lognormal; only the upper side open -> ``low`` plus a lognormal; else uniform.
    Rounded to 3 decimals (``INT``: to whole numbers, kept as floats) and kept inside the
    range. Categorical: drawn uniformly from ``values``.
    """
    size = (n, *_block_shape(feature))
    if not feature.continuous:
        picks = rng.integers(len(feature.values), size=size)
        return np.array(feature.values, dtype=object)[picks]

    low, high = feature.low, feature.high
    if math.isinf(low) and math.isinf(high):
        raw = rng.normal(size=size)
    elif math.isinf(low):
        raw = high - rng.lognormal(size=size)
    elif math.isinf(high):
        raw = low + rng.lognormal(size=size)
    elif high == low:  # includes [0.0, -0.0], which numpy's uniform refuses as a negative width
        raw = np.full(size, float(low))
    else:
        raw = rng.uniform(low, high, size=size)

    # Rounding can step just past a bound that is not on the rounding grid: clamp back inside.
    if feature.dtype == "INT":
        values = np.floor(raw + 0.5)
        low, high = math.ceil(low) if math.isfinite(low) else low, math.floor(high) if math.isfinite(high) else high
    else:
        values = np.round(raw, DECIMALS)
    return np.clip(values, low, high).astype(np.float64)


def generate_batch(
    contract: Contract | Mapping[str, Any], n: int, rng: np.random.Generator, field: str = "features"
) -> np.ndarray:
    """A random batch of ``n`` rows for ``features`` (or ``targets``), columns in contract order.

    All-continuous gives a float64 array; any categorical column makes it an object array
    holding Python floats and category values.
    """
    contract = load_contract(contract)
    if not _is_int(n) or n < 1:
        raise ValueError(f"batch size: expected a whole number >= 1, got {_show(n)}")
    entries = contract.features if field == "features" else contract.targets
    if not entries:
        raise ContractError([f"{field}: nothing to generate"])
    blocks = [generate_feature(f, n, rng) for f in entries]
    if all(f.continuous for f in entries):
        return np.concatenate(blocks, axis=1)
    return np.concatenate([b.astype(object) for b in blocks], axis=1)


def to_json_values(batch: np.ndarray) -> list[Any]:
    """Nested Python lists of plain ``float``/``str``/``int`` (no numpy scalars), for JSON."""

    def plain(x: Any) -> Any:
        if isinstance(x, np.generic):
            return x.item()
        return x

    def walk(x: Any) -> Any:
        if isinstance(x, list):
            return [walk(v) for v in x]
        return plain(x)

    return walk(batch.tolist())


def build_request(contract: Contract | Mapping[str, Any], batch: np.ndarray, tensor: bool = False) -> dict[str, Any]:
    """The SeldonMessage dict for a batch: ``data.names`` from the features, then ``ndarray`` or ``tensor``."""
    contract = load_contract(contract)
    data: dict[str, Any] = {"names": contract.feature_names}
    if tensor:
        problems = tensor_problems(contract)
        if problems:
            raise ContractError(problems)
        data["tensor"] = {
            "shape": [int(d) for d in batch.shape],
            "values": [float(v) for v in np.asarray(batch, dtype=np.float64).ravel()],
        }
    else:
        data["ndarray"] = to_json_values(batch)
    return {"data": data}


def tensor_problems(contract: Contract | Mapping[str, Any]) -> list[str]:
    """Why this contract's features cannot travel as a ``tensor`` (numbers only); empty when they can."""
    contract = load_contract(contract)
    return [
        f"{f.source} ({f.name}): categorical features cannot be sent in a tensor payload, which holds "
        "numbers only; send ndarray (drop -t/--tensor)"
        for f in contract.features
        if not f.continuous
    ]


def build_feedback(request: Mapping[str, Any], response: Mapping[str, Any], reward: float = 1.0) -> dict[str, Any]:
    """The Feedback dict sent after a prediction: the request, its response and a reward."""
    return {"request": dict(request), "response": dict(response), "reward": float(reward)}


# ---------------------------------------------------------------------------------------------
# Checking responses


PAYLOAD_KEYS = ("data", "binData", "strData", "jsonData", "customData")


def failure_of(response: Mapping[str, Any]) -> str | None:
    """A description of ``status`` when it says FAILURE (``"FAILURE"`` or ``1``), else None."""
    status = response.get("status")
    if not isinstance(status, Mapping):
        return None
    flag = status.get("status")
    if flag not in ("FAILURE", 1):
        return None
    parts = []
    if status.get("code") not in (None, 0):
        parts.append(f"code {status.get('code')}")
    if status.get("reason"):
        parts.append(f"reason {status.get('reason')}")
    detail = f" ({', '.join(parts)})" if parts else ""
    info = status.get("info")
    return f"status: FAILURE answer{detail}" + (f": {info}" if info else "")


def check_response(
    contract: Contract | Mapping[str, Any], response: Any, rows: int | None = None, endpoint: str = "predict"
) -> list[str]:
    """Problems found in one response; an empty list means it passes.

    Every answer must be a JSON object whose ``status`` is not FAILURE. For ``predict`` (and
    the prediction step of ``send-feedback``), a payload must be present, and when the contract
    has targets the payload must be ``data`` with one row per request row (``rows``), one
    column per target (``prod(shape)`` for a shaped target), categorical values among the
    target's ``values``, continuous values numbers within ``range`` (whole numbers for INT).
    ``transform-input`` answers need a payload but are not compared with targets: they
    feed the next node, not the client. ``send-feedback`` answers are only checked for FAILURE.
    When targets mix categorical and continuous columns, a numeric string is accepted as a
    number (servers that build a numpy array from such a row turn every cell into a string).
    """
    contract = load_contract(contract)
    if not isinstance(response, Mapping):
        return [f"response: expected a JSON object, got {_kind(response)}"]
    failure = failure_of(response)
    if failure:
        return [failure]
    if endpoint == "send-feedback":
        return []

    present = [k for k in PAYLOAD_KEYS if k in response and response[k] is not None]
    if not present:
        return [f"response: no payload; expected one of {', '.join(PAYLOAD_KEYS)}"]
    if endpoint != "predict" or not contract.targets:
        return []

    labels = contract.target_labels
    if "data" not in present:
        return [f"response: expected data.ndarray or data.tensor for targets [{', '.join(labels)}], got {present[0]}"]
    data = response["data"]
    if not isinstance(data, Mapping):
        return [f"data: expected an object, got {_kind(data)}"]
    if "ndarray" in data:
        return _check_ndarray(contract, data["ndarray"], rows)
    if "tensor" in data:
        return _check_tensor(contract, data["tensor"], rows)
    if "tftensor" in data:
        return []  # TensorFlow tensors are passed through untouched; nothing to compare cheaply
    return [f"data: expected ndarray or tensor for targets [{', '.join(labels)}], got keys {sorted(data)}"]


def _check_ndarray(contract: Contract, ndarray: Any, rows: int | None) -> list[str]:
    if not isinstance(ndarray, list):
        return [f"data.ndarray: expected a list of rows, got {_kind(ndarray)}"]
    problems = []
    if rows is not None and len(ndarray) != rows:
        problems.append(
            f"data.ndarray: expected {rows} row{'s' * (rows != 1)} (one per request row), got {len(ndarray)}"
        )
    for r, row in enumerate(ndarray):
        flat = _flatten(row)
        problems.extend(_check_row(contract, flat, f"data.ndarray row {r}"))
    return problems


def _check_tensor(contract: Contract, tensor: Any, rows: int | None) -> list[str]:
    if not isinstance(tensor, Mapping):
        return [f"data.tensor: expected an object with shape and values, got {_kind(tensor)}"]
    shape = tensor.get("shape") or []
    values = tensor.get("values") or []
    if not isinstance(shape, list) or not shape or not all(_is_int(d) and d >= 0 for d in shape):
        return [f"data.tensor.shape: expected a non-empty list of whole numbers, got {_show(shape)}"]
    if not isinstance(values, list):
        return [f"data.tensor.values: expected a list of numbers, got {_kind(values)}"]
    total = int(np.prod(shape))
    if len(values) != total:
        return [f"data.tensor: shape {shape} needs {total} values, got {len(values)}"]
    problems = []
    if rows is not None and shape[0] != rows:
        problems.append(f"data.tensor: expected {rows} row{'s' * (rows != 1)} (one per request row), got shape {shape}")
    width = total // shape[0] if shape[0] else 0
    for r in range(shape[0]):
        problems.extend(_check_row(contract, values[r * width : (r + 1) * width], f"data.tensor row {r}"))
    return problems


def _check_row(contract: Contract, flat: list[Any], where: str) -> list[str]:
    labels = contract.target_labels
    if len(flat) != len(labels):
        return [
            (
                f"{where}: expected {len(labels)} column{'s' * (len(labels) != 1)} for targets "
                f"[{', '.join(labels)}], got {len(flat)}"
            )
        ]
    # A row mixing categories and numbers is often coerced to strings by numpy on the server
    # (seldon-core's gRPC path does this), so there a numeric string counts as a number.
    mixed = any(not t.continuous for t in contract.targets) and any(t.continuous for t in contract.targets)
    problems = []
    column = 0
    for target in contract.targets:
        for label in target.column_labels():
            problem = _check_value(target, flat[column], numeric_strings=mixed)
            if problem:
                problems.append(f"{where} column {column} ({label}): {problem}")
            column += 1
    return problems


def _check_value(target: Feature, value: Any, numeric_strings: bool = False) -> str | None:
    if not target.continuous:
        if _in_categories(value, target.values):
            return None
        return f"{_show(value)} is not one of the values [{', '.join(map(str, target.values))}]"
    if numeric_strings and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return f"expected a number, got {_show(value)}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"expected a number, got {_show(value)}"
    if math.isnan(value):
        return "expected a number, got NaN"
    if not target.low <= value <= target.high:
        return f"{_num(value)} is outside range [{_bound(target.low)}, {_bound(target.high)}]"
    if target.dtype == "INT" and not float(value).is_integer():
        return f"{_num(value)} is not a whole number (dtype INT)"
    return None


def _in_categories(value: Any, categories: Iterable[Any]) -> bool:
    for category in categories:
        if value == category and isinstance(value, bool) == isinstance(category, bool):
            return True
        # Numbers travel as doubles over protobuf: accept 1.0 for "1" and 1 for "1.0".
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                if float(category) == float(value):
                    return True
            except (TypeError, ValueError):
                pass
        elif isinstance(value, str) and isinstance(category, (int, float)) and value == str(category):
            return True
    return False


def _flatten(row: Any) -> list[Any]:
    if not isinstance(row, list):
        return [row]
    out: list[Any] = []
    for item in row:
        out.extend(_flatten(item))
    return out


# ---------------------------------------------------------------------------------------------
# Small helpers


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def _kind(x: Any) -> str:
    names = {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        type(None): "null",
        int: "a number",
        float: "a number",
    }
    for t, name in names.items():
        if isinstance(x, t):
            return name
    return type(x).__name__


def _show(x: Any) -> str:
    text = json.dumps(x) if isinstance(x, (str, list, dict, int, float, bool, type(None))) else repr(x)
    return text if len(text) <= 80 else text[:77] + "..."


def _num(x: float) -> str:
    return str(int(x)) if isinstance(x, float) and x.is_integer() and abs(x) < 1e15 else str(x)


def _bound(x: float) -> str:
    return "inf" if math.isinf(x) else _num(x)
