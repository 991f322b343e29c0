"""A graph node served by its own image needs that image; a prepackaged server's container does not
(the operator sets its image). Checked by `wharf render`/the operator at every graph level."""

from __future__ import annotations

from wharf.deployment.validate import problems


def sdep(graph: dict, containers: list[dict]) -> dict:
    return {
        "apiVersion": "machinelearning.seldon.io/v1",
        "kind": "SeldonDeployment",
        "metadata": {"name": "m"},
        "spec": {
            "predictors": [{"name": "p", "graph": graph, "componentSpecs": [{"spec": {"containers": containers}}]}]
        },
    }


def test_a_container_without_image_is_named_at_any_level() -> None:
    graph = {"name": "a", "children": [{"name": "b", "children": [{"name": "c", "children": [{"name": "d"}]}]}]}
    containers = [
        {"name": "a", "image": "a:1"},
        {"name": "b", "image": "b:1"},
        {"name": "c", "image": "c:1"},
        {"name": "d"},
    ]
    assert problems(sdep(graph, containers)) == [
        "spec.predictors[0].componentSpecs[0].spec.containers[3].image: required: graph node "
        "spec.predictors[0].graph.children[0].children[0].children[0] runs in this container "
        "(set the model image, e.g. registry/my-model:0.1)"
    ]


def test_a_prepackaged_server_container_needs_no_image() -> None:
    graph = {"name": "clf", "implementation": "SKLEARN_SERVER", "modelUri": "gs://bucket/model"}
    assert problems(sdep(graph, [{"name": "clf", "resources": {"requests": {"memory": "1Gi"}}}])) == []
    assert problems(sdep({"name": "clf"}, [{"name": "clf", "image": ""}]))[0].startswith(
        "spec.predictors[0].componentSpecs[0].spec.containers[0].image: required"
    )
