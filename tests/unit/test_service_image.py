"""The requirements.txt layer of the service images: the wheel's dependencies plus chosen extras."""

from __future__ import annotations

from wharf.build.dockerfile import pinned_dockerfile
from wharf.build.service_images import ORCHESTRATOR, requirements

METADATA = """Metadata-Version: 2.4
Name: wharf-ml
Version: 0.1.0
Requires-Dist: numpy>=1.24
Requires-Dist: uvloop>=0.19; sys_platform != "win32"
Requires-Dist: kopf>=1.37; extra == "operator"
Requires-Dist: aiokafka>=0.11; extra == "kafka"
Requires-Dist: opentelemetry-sdk>=1.30; extra == "tracing"
Requires-Dist: wharf-ml[kafka,tracing]; extra == "test"
Requires-Dist: pytest>=8; extra == "test"

Long description.
"""


def test_requirements_keep_the_runtime_and_only_the_chosen_extras():
    lines = requirements(METADATA, ORCHESTRATOR.extras).splitlines()
    # platform markers stay for pip in the image; chosen extras lose their marker; others are left out
    assert lines == [
        "numpy>=1.24",
        'uvloop>=0.19; sys_platform != "win32"',
        "aiokafka>=0.11",
        "opentelemetry-sdk>=1.30",
    ]


def test_requirements_without_extras_are_the_runtime_alone():
    assert requirements(METADATA, ()) == 'numpy>=1.24\nuvloop>=0.19; sys_platform != "win32"\n'


def test_pinned_dockerfile_sets_arg_defaults_and_keeps_the_original_visible():
    text = "ARG BASE_IMAGE=python:3.12-slim\nFROM ${BASE_IMAGE}\nARG WHARF_VERSION=dev\n"
    out = pinned_dockerfile(text, {"BASE_IMAGE": "wharf-base/python:3.12", "WHARF_VERSION": "0.1.0"})
    assert out.splitlines() == [
        "ARG BASE_IMAGE=wharf-base/python:3.12",
        "# upstream default: python:3.12-slim",
        "FROM ${BASE_IMAGE}",
        "ARG WHARF_VERSION=0.1.0",
        "# upstream default: dev",
    ]
