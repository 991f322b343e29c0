"""Fixtures of the build tests. ``hooks/`` (top level of the repository) is made importable."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


import pytest  # noqa: E402

from wharf.testing.infra import unavailable  # noqa: E402

EXAMPLES = ROOT / "examples" / "models"
# Tags used by the tests (a separate repository, so nothing a developer built is overwritten).
TEST_REPO = "wharf-test"


@pytest.fixture(scope="session")
def engine():
    try:
        import docker

        client = docker.from_env(timeout=900)
        client.ping()
    except Exception as exc:  # no SDK, no socket, engine down: all mean "no engine"
        unavailable(
            f"a Docker engine ({exc.__class__.__name__})",
            "install docker.io and start dockerd (see docs/building-images.md)",
        )
    import shutil

    if shutil.which("debootstrap") is None:
        unavailable("debootstrap", "apt-get install -y debootstrap (the local base images are made with it)")
    return client


@pytest.fixture(scope="session")
def builder(engine):
    """The Python 3.12 builder, built once per session from this checkout (cached layers)."""
    from wharf.build.builder import build_builder

    return build_builder("3.12", progress=None)[0]


@pytest.fixture(scope="session")
def examples(builder):
    """The three example models built once with `invoke build`'s code: name -> BuildResult."""
    from wharf.build.model import build_model

    built = {}
    for folder, name in (("iris", "iris"), ("scaler", "scaler"), ("epsilon-router", "router")):
        built[name] = build_model(EXAMPLES / folder, f"{TEST_REPO}/{name}:build", builder=builder, progress=None)
    return built


@pytest.fixture(scope="session")
def s2i_binary(engine):
    from wharf.build.s2icli import ensure_s2i

    try:
        return ensure_s2i()
    except RuntimeError as exc:
        unavailable("the s2i CLI", f"it is built from its Go module; that failed: {exc}")
