"""values.schema.json is generated from values.yaml: no drift, every key documented, annotations honoured."""

from __future__ import annotations

import json

import pytest
from chart_support import CHART_NAMES, CHARTS
from jsonschema import Draft7Validator

from wharf.charts.values_schema import ValuesSourceError, chart_schema, generate, undocumented_keys


@pytest.mark.parametrize("chart", CHART_NAMES)
def test_committed_schema_is_what_values_yaml_generates(chart):
    committed = (CHARTS / chart / "values.schema.json").read_text()
    assert committed == chart_schema(CHARTS / chart), "run `invoke charts.schema`"
    schema = json.loads(committed)
    Draft7Validator.check_schema(schema)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"


@pytest.mark.parametrize("chart", CHART_NAMES)
def test_every_values_key_has_a_helm_docs_description(chart):
    assert undocumented_keys((CHARTS / chart / "values.yaml").read_text()) == []


def test_types_come_from_defaults_and_annotations_refine_them():
    text = """
# -- How many.
replicas: 1
image:
  # @schema {minLength: 1}
  # -- Repository.
  # It continues here.
  repository: x
# @schema {enum: [a, b]}
# -- Mode.
mode: a
# -- Free map.
extra: {}
"""
    schema = generate(text, "t")
    props = schema["properties"]
    assert props["replicas"] == {"description": "How many.", "type": "integer"}
    assert props["image"]["additionalProperties"] is False
    assert props["image"]["properties"]["repository"] == {
        "description": "Repository. It continues here.",
        "type": "string",
        "minLength": 1,
    }
    assert props["mode"]["enum"] == ["a", "b"]
    assert "additionalProperties" not in props["extra"]  # an empty default map is open
    # Parent charts pass these to a dependency; a closed root must still admit them.
    assert {"global", "enabled"} <= set(props)
    assert schema["additionalProperties"] is False


def test_a_map_annotated_with_an_entry_schema_holds_its_defaults_to_it_and_admits_new_keys():
    """predictor_servers: its default entries are examples of the map, not a closed list of keys."""
    text = """
# @schema {additionalProperties: {type: object, required: [image], properties: {image: {type: string, minLength: 1}}}}
# -- Servers.
servers:
  A:
    image: a
"""
    schema = generate(text, "t")
    assert "properties" not in schema["properties"]["servers"]
    validator = Draft7Validator(schema)
    assert not list(validator.iter_errors({"servers": {"A": {"image": "a"}, "CUSTOM": {"image": "c", "tag": 1}}}))
    errors = [e.message for e in validator.iter_errors({"servers": {"A": {"image": ""}}})]
    assert errors == ["'' should be non-empty"]
    assert undocumented_keys(text) == []  # the entries need no description of their own


def test_required_annotation_and_shared_graph_schema():
    text = "# @schema {required: true}\n# -- N.\nname: ''\n# @schema {$ref: 'wharf:graph'}\n# -- G.\ngraph: {}\n"
    schema = generate(text, "t")
    assert schema["required"] == ["name"]
    graph = schema["properties"]["graph"]
    assert graph["required"] == ["name"] and "children" in graph["properties"]
    assert not any(k.startswith("x-kubernetes") for k in json.dumps(graph).split('"'))


def test_bad_annotation_names_file_and_line():
    with pytest.raises(ValuesSourceError, match=r"values.yaml:2: bad @schema annotation"):
        generate("# -- x\n# @schema {type: [\nkey: 1\n", "t")
    with pytest.raises(ValuesSourceError, match="unknown shared schema wharf:nope"):
        generate("# @schema {$ref: 'wharf:nope'}\nkey: {}\n", "t")
