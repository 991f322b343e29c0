"""Kubernetes resource quantities in chart values: the JSON-Schema pieces the charts' schemas share.

Kubernetes takes a quantity as a JSON string (``"100m"``, ``"0.1"``, ``"1Gi"``) or a JSON number
(``0.1``, ``2``), so values files hold both. A string must follow the quantity grammar; the pattern
is the one CRD generators attach to apimachinery's ``resource.Quantity`` (controller-tools), which
writes that grammar out: an optional sign, a decimal number, then a binary suffix (``Ki`` .. ``Ei``),
a decimal suffix (``n u m k M G T P E``) or a decimal exponent (``e3``, ``E-2``).

Pod validation refuses negative requests and limits, so the schemas here refuse them too; every
refusal carries one message naming the accepted forms instead of a bare pattern mismatch.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
    r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
# helm reads the numbers of a values file as 64-bit floats: from 2^53 on, digits are lost before any
# template sees them, so such a number is refused (written as a string it passes unchanged).
HELM_EXACT_NUMBERS = 2**53
MESSAGE = (
    "expected a Kubernetes quantity: a string such as 100m, 0.5, 1Gi, 512Mi or 1e3, or a non-negative "
    "number below 2^53 (helm reads numbers as 64-bit floats, so larger ones lose digits: quote them)"
)


def quantity(allow_empty: bool = False) -> Schema:
    """One quantity; ``allow_empty`` also admits ``""`` (a setting that means "none")."""
    string: Schema = {"type": "string", "pattern": PATTERN, "not": {"pattern": "^-"}}
    if allow_empty:
        string = {"type": "string", "anyOf": [{"const": ""}, {"pattern": PATTERN, "not": {"pattern": "^-"}}]}
    number = {"type": "number", "minimum": 0, "exclusiveMaximum": HELM_EXACT_NUMBERS}
    return {"anyOf": [number, string], "errorMessage": MESSAGE}


def resources() -> Schema:
    """core/v1 ResourceRequirements: ``requests`` and ``limits`` map any resource name (cpu, memory,
    ephemeral-storage, hugepages-2Mi, nvidia.com/gpu, ...) to a quantity; ``claims`` names DRA claims."""
    quantities = {"type": "object", "additionalProperties": quantity()}
    claim = {
        "type": "object",
        "required": ["name"],
        "additionalProperties": False,
        "properties": {"name": {"type": "string", "minLength": 1}, "request": {"type": "string"}},
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {"requests": quantities, "limits": quantities, "claims": {"type": "array", "items": claim}},
    }
