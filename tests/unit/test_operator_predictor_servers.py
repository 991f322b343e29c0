"""The predictor_servers table as the operator reads it (WHARF_PREDICTOR_SERVERS, RELATED_IMAGE_*)
and what render() does with a custom server registered there."""

from __future__ import annotations

import json

import pytest

from wharf.deployment.validate import SdepError
from wharf.operator.config import PREDICTOR_SERVERS, OperatorConfig
from wharf.operator.render import render

LIGHTGBM = {
    "LIGHTGBM_SERVER": {"protocols": {"seldon": {"image": "registry.example/lgbm", "defaultImageVersion": 4.7}}}
}


def sdep(implementation: str) -> dict:
    return {
        "apiVersion": "machinelearning.seldon.io/v1",
        "kind": "SeldonDeployment",
        "metadata": {"name": "m", "namespace": "ns"},
        "spec": {
            "predictors": [
                {
                    "name": "default",
                    "graph": {"name": "classifier", "implementation": implementation, "modelUri": "s3://models/lgbm"},
                }
            ]
        },
    }


def test_a_custom_server_from_the_table_is_rendered_like_upstreams_prepackaged_ones():
    config = OperatorConfig.from_env({"WHARF_PREDICTOR_SERVERS": json.dumps(LIGHTGBM)})
    assert config.predictor_servers == {"LIGHTGBM_SERVER": {"seldon": "registry.example/lgbm:4.7"}}
    dep = next(o for o in render(sdep("LIGHTGBM_SERVER"), config) if o["kind"] == "Deployment")
    pod = dep["spec"]["template"]["spec"]
    unit = next(c for c in pod["containers"] if c["name"] == "classifier")
    assert unit["image"] == "registry.example/lgbm:4.7"
    params = json.loads(next(e["value"] for e in unit["env"] if e["name"] == "PREDICTIVE_UNIT_PARAMETERS"))
    assert {"name": "model_uri", "value": "/mnt/models", "type": "STRING"} in params
    assert pod["initContainers"][0]["args"] == ["s3://models/lgbm", "/mnt/models"]
    # the table replaces the defaults, as upstream's ConfigMap does: SKLEARN_SERVER is now unknown
    with pytest.raises(SdepError, match="SKLEARN_SERVER"):
        render(sdep("SKLEARN_SERVER"), config)


def test_related_image_variables_still_win_over_the_table():
    config = OperatorConfig.from_env(
        {"WHARF_PREDICTOR_SERVERS": json.dumps(LIGHTGBM), "RELATED_IMAGE_SKLEARNSERVER": "mirror.local/sk:1"}
    )
    assert config.predictor_servers["SKLEARN_SERVER"] == {"seldon": "mirror.local/sk:1"}
    assert OperatorConfig.from_env({}).predictor_servers == PREDICTOR_SERVERS


@pytest.mark.parametrize(
    "raw, message",
    [
        ("{not json", "WHARF_PREDICTOR_SERVERS: not JSON"),
        ("[]", "WHARF_PREDICTOR_SERVERS: expected an object of servers"),
        ('{"X": {}}', "WHARF_PREDICTOR_SERVERS: X.protocols must map a protocol to its image"),
        (
            '{"X": {"protocols": {"grpc": {"image": "i", "defaultImageVersion": "1"}}}}',
            "WHARF_PREDICTOR_SERVERS: X.protocols.grpc: unknown protocol",
        ),
        (
            '{"X": {"protocols": {"seldon": {"image": "i"}}}}',
            "WHARF_PREDICTOR_SERVERS: X.protocols.seldon: needs image and defaultImageVersion",
        ),
    ],
)
def test_a_bad_table_names_the_variable_and_the_entry(raw, message):
    with pytest.raises(ValueError) as info:
        OperatorConfig.from_env({"WHARF_PREDICTOR_SERVERS": raw})
    assert str(info.value).startswith(message)
