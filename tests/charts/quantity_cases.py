"""Quantity cases shared by the schema/render tests and the API-server tests of the charts."""

from __future__ import annotations

# (value, accepted by the charts' schemas). The API-server test checks the same verdicts.
QUANTITIES = [
    ("100m", True),
    ("0.1", True),
    ("1", True),
    ("1Gi", True),
    ("512Mi", True),
    ("1e3", True),
    ("1E-2", True),
    (".5", True),
    ("5.", True),
    ("+1", True),
    ("2k", True),
    ("3n", True),
    ("4u", True),
    (0.1, True),
    (2, True),
    (0, True),
    (1073741824, True),
    (0.0000005, True),
    ("-1", False),
    (-0.5, False),
    ("1GiB", False),
    ("lots", False),
    ("", False),
    ("1.2.3", False),
    ("1 Gi", False),
    ("0x10", False),
    (True, False),
    ([1], False),
]
# Refused although Kubernetes takes it: helm reads values as 64-bit floats, so this number would
# reach the manifest with other digits (quoted, it passes).
NOT_EXACT_IN_HELM = 2**53 + 1

# Written as a user would (YAML, unquoted numbers); every value must come out as the same quantity
# in a quoted string: no 1e+06, no lost digits, no string turned into a number.
RESOURCES_YAML = """
  requests: {cpu: 0.1, memory: 1073741824, nvidia.com/gpu: 1}
  limits: {cpu: "2", memory: 1Gi, nvidia.com/gpu: "1", ephemeral-storage: 1000000}
"""
RENDERED = {
    "requests": {"cpu": "0.1", "memory": "1073741824", "nvidia.com/gpu": "1"},
    "limits": {"cpu": "2", "memory": "1Gi", "nvidia.com/gpu": "1", "ephemeral-storage": "1000000"},
}
RENDER_CASES = {
    "wharf-model": "model:\n  image: m:1\n  resources:" + RESOURCES_YAML.replace("\n  ", "\n    "),
    "wharf-abtest": "modela: {image: {name: a, version: 1}}\nmodelb: {image: {name: b, version: 1}}\nresources:"
    + RESOURCES_YAML,
    "wharf-mab": "resources:" + RESOURCES_YAML + "engine:\n  resources:" + RESOURCES_YAML.replace("\n  ", "\n    "),
    "wharf-graph": "graph: {name: m, type: MODEL}\ncomponentSpecs:\n  - spec:\n      containers:\n        - name: m\n"
    "          image: m:1\n          resources:"
    + RESOURCES_YAML.replace("\n  ", "\n            ")
    + "svcOrchSpec:\n  resources:"
    + RESOURCES_YAML.replace("\n  ", "\n    "),
}
# Charts whose case above also sets the orchestrator's resources (svcOrchSpec).
SETS_ORCHESTRATOR = {"wharf-mab", "wharf-graph"}
