"""The Docker-strategy build's pure parts: base-image override, image checks, smoke env."""

from __future__ import annotations

import pytest

from wharf.build.dockerstrategy import final_base, image_settings, parse_smoke_env, rebase

LEGACY_CMD = ["/bin/sh", "-c", "exec seldon-core-microservice $MODEL_NAME $API_TYPE --service-type $SERVICE_TYPE"]


def test_the_last_from_is_replaced_as_openshift_does() -> None:
    text = "FROM golang:1.22 AS tools\nRUN make\nFROM --platform=linux/amd64 python:3.12-slim AS app\nCOPY . /app\n"
    rebased, args = rebase(text, "org/python:3.12")
    assert args == {}
    assert rebased.splitlines() == [
        "FROM golang:1.22 AS tools",
        "RUN make",
        "FROM --platform=linux/amd64 org/python:3.12 AS app",
        "COPY . /app",
    ]
    assert final_base(rebased) == "org/python:3.12"
    assert rebase(text, None) == (text, {})


def test_a_declared_base_image_arg_is_filled_instead() -> None:
    text = "ARG BASE_IMAGE=python:3.12-slim\nFROM ${BASE_IMAGE}\n"
    assert rebase(text, "org/python:3.12") == (text, {"BASE_IMAGE": "org/python:3.12"})
    with pytest.raises(ValueError, match="no FROM"):
        rebase("RUN true\n", "x")


def test_image_checks_name_the_dockerfile() -> None:
    ok, problems = image_settings({"Env": ["MODEL_NAME=T", "SERVICE_TYPE=ROUTER"], "Cmd": LEGACY_CMD}, "Dockerfile")
    assert problems == [] and (ok.model_name, ok.service_type) == ("T", "ROUTER")
    _, problems = image_settings({"Env": ["PATH=/bin"], "Cmd": LEGACY_CMD}, "x/Dockerfile")
    assert problems == [
        "x/Dockerfile: CMD passes $MODEL_NAME but the image sets no MODEL_NAME: add ENV "
        "MODEL_NAME=<your class>, e.g. ENV MODEL_NAME=MyModel for MyModel.py"
    ]
    flag, problems = image_settings({"Cmd": ["seldon-core-microservice", "M", "--service-type", "TRANSFORMER"]}, "D")
    assert problems == [] and flag.service_type == "TRANSFORMER"
    _, problems = image_settings({"Env": ["SERVICE_TYPE=MODLE"], "Cmd": ["python", "app.py"]}, "D")
    assert problems == [
        "D: CMD/ENTRYPOINT does not start seldon-core-microservice (or wharf serve): python app.py",
        "D: SERVICE_TYPE='MODLE' is not one of MODEL, ROUTER, TRANSFORMER, OUTPUT_TRANSFORMER, "
        "COMBINER, OUTLIER_DETECTOR",
    ]


def test_smoke_env_takes_bare_names_from_the_shell() -> None:
    assert parse_smoke_env(["A=1", "SECRET"], {"SECRET": "s"}) == {"A": "1", "SECRET": "s"}
    with pytest.raises(ValueError, match="--smoke-env MISSING: not set in this shell"):
        parse_smoke_env(["MISSING"], {})
