"""``--parameters`` / PREDICTIVE_UNIT_PARAMETERS: the five upstream types and the error messages."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wharf.component.parameters import ParameterError, parse_parameters


def params(*items) -> str:
    return json.dumps([{"name": n, "value": v, "type": t} for n, v, t in items])


def test_every_type_converts():
    out = parse_parameters(
        params(
            ("n", "3", "INT"),
            ("f", "0.5", "FLOAT"),
            ("d", "1e-3", "DOUBLE"),
            ("s", "text", "STRING"),
            ("b", "true", "BOOL"),
        )
    )
    assert out == {"n": 3, "f": 0.5, "d": 0.001, "s": "text", "b": True}
    assert type(out["n"]) is int and type(out["f"]) is float and type(out["b"]) is bool


def test_empty_sources():
    assert parse_parameters("[]") == {}
    assert parse_parameters("") == {}


@pytest.mark.parametrize("text", ["y", "yes", "t", "true", "on", "1", "TRUE", "Yes", " on "])
def test_bool_true_spellings(text):
    assert parse_parameters(params(("b", text, "BOOL"))) == {"b": True}


@pytest.mark.parametrize("text", ["n", "no", "f", "false", "off", "0", "FALSE", "Off"])
def test_bool_false_spellings(text):
    assert parse_parameters(params(("b", text, "BOOL"))) == {"b": False}


def test_values_may_be_json_scalars():
    assert parse_parameters(params(("n", 4, "INT"), ("b", True, "BOOL"), ("f", 2, "FLOAT"))) == {
        "n": 4,
        "b": True,
        "f": 2.0,
    }


@pytest.mark.parametrize("kind", ["JSON", "LIST", "int", ""])
def test_unknown_types_are_rejected(kind):
    with pytest.raises(ParameterError) as info:
        parse_parameters(params(("p", "{}", kind)), "PREDICTIVE_UNIT_PARAMETERS")
    err = info.value
    assert err.reason == "MICROSERVICE_BAD_PARAMETER"
    assert err.message.startswith("PREDICTIVE_UNIT_PARAMETERS[0] (p): Bad model parameter type")
    assert "valid are INT, FLOAT, DOUBLE, STRING, BOOL" in err.message


@pytest.mark.parametrize(
    "value, kind", [("1.5", "INT"), ("abc", "FLOAT"), ("x", "DOUBLE"), ("maybe", "BOOL"), (None, "INT")]
)
def test_conversion_failures_name_the_parameter(value, kind):
    with pytest.raises(ParameterError) as info:
        parse_parameters(params(("ok", "1", "INT"), ("bad", value, kind)))
    assert info.value.message.startswith(
        f"--parameters[1] (bad): Bad model parameter: bad with value {value!r} can't be parsed as a {kind}"
    )


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", r"^--parameters: not valid JSON"),
        ('{"name": "a"}', r"^--parameters: expected a JSON list of \{name, value, type\} objects"),
        ('[{"name": "a", "value": "1"}]', r"^--parameters\[0\]: expected an object with keys name, value and type"),
        ('["a"]', r"^--parameters\[0\]: expected an object"),
    ],
)
def test_shape_errors(text, message):
    with pytest.raises(ParameterError, match=message):
        parse_parameters(text)


@settings(max_examples=50, deadline=None)
@given(
    st.dictionaries(
        st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True),
        st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(), st.booleans()),
        max_size=6,
    )
)
def test_round_trip_from_crd_strings(values):
    """The CRD carries every value as a string; each type gets the original back."""
    items = []
    for name, value in values.items():
        if isinstance(value, bool):
            items.append((name, str(value).lower(), "BOOL"))
        elif isinstance(value, int):
            items.append((name, str(value), "INT"))
        elif isinstance(value, float):
            items.append((name, repr(value), "DOUBLE"))
        else:
            items.append((name, value, "STRING"))
    assert parse_parameters(params(*items)) == values
