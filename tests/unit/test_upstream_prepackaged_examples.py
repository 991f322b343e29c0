"""Every prepackaged-server example in upstream's docs renders with Wharf's defaults, and the pods
run Wharf's images: none of Seldon's, except where the example names an image itself.

The corpus (tests/fixtures/upstream-prepackaged, its README says how it was collected) is upstream's
own text, so what is checked here does not depend on how Wharf writes its examples.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from wharf.deployment.servers import PREDICTOR_SERVERS
from wharf.deployment.validate import SdepError
from wharf.operator.render import render

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "upstream-prepackaged"
EXAMPLES = sorted(CORPUS.glob("*.yaml"))

# Images Wharf's defaults still name, each for one reason: not Seldon's, or not built here yet.
NOT_WHARF = {
    "tensorflow/serving:2.1.0": "TF Serving itself (protocol tensorflow, and beside the proxy): Google's "
    "Apache-2.0 image, which the proxy fronts",
    "nvcr.io/nvidia/tritonserver:21.08-py3": "TRITON_SERVER: NVIDIA's own server image",
    PREDICTOR_SERVERS["HUGGINGFACE_SERVER"]["v2"]: "HUGGINGFACE_SERVER: MLServer's huggingface runtime "
    "(transformers and torch, several GB) is not built here yet",
}


# Examples the API server refuses under upstream's own CRD, so Wharf refuses them too (the field named).
UPSTREAM_REFUSES = {
    "doc__source__servers__huggingface-2": "spec.predictors[0].graph.parameters[2].value: expected a string, got True",
}


def pod_images(objects: list[dict]) -> list[tuple[str, str]]:
    out = []
    for obj in objects:
        if obj["kind"] == "Deployment":
            spec = obj["spec"]["template"]["spec"]
            out += [
                (obj["metadata"]["name"], c["image"])
                for c in spec.get("containers", []) + spec.get("initContainers", [])
            ]
    return out


def test_the_corpus_is_upstreams_text_and_covers_every_prepackaged_server() -> None:
    assert len(EXAMPLES) >= 60
    for path in EXAMPLES:
        assert path.read_text().startswith("# SeldonIO/seldon-core v1.17.1: "), path.name
    text = "\n".join(p.read_text() for p in EXAMPLES)
    for server in (
        "SKLEARN_SERVER",
        "XGBOOST_SERVER",
        "MLFLOW_SERVER",
        "TENSORFLOW_SERVER",
        "TRITON_SERVER",
        "HUGGINGFACE_SERVER",
    ):
        assert f"implementation: {server}" in text, server
    assert "protocol: v2" in text and "protocol: tensorflow" in text


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_an_upstream_example_renders_with_wharf_images_only(path: Path) -> None:
    source = path.read_text()
    sdep = yaml.safe_load(source)
    sdep["metadata"].setdefault("namespace", "models")
    if path.stem in UPSTREAM_REFUSES:
        with pytest.raises(SdepError, match=re.escape(UPSTREAM_REFUSES[path.stem])):
            render(sdep)
        return
    images = pod_images(render(sdep))
    assert images, "no pod rendered"
    for deployment, image in images:
        if image in source:  # the example names this image itself (its own model, its own initializer)
            continue
        if image in NOT_WHARF:
            continue
        assert image.startswith("wharf/"), f"{deployment} runs {image}, which is not Wharf's"
        assert not image.startswith("seldonio/")
