"""Fixtures for the black-box tests (helpers live in ``support``): server factories with module
and function scope, and the server logs attached to the report of a failing test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support import LIVE_SERVERS, ServerFactory

# image in examples/graphs/ab-router.yaml -> the model folder it is built from
AB_ROUTER_IMAGES = {
    "wharf-examples/scaler:0.1": "scaler",
    "wharf-examples/epsilon-router:0.1": "epsilon-router",
    "wharf-examples/iris:0.1": "iris",
}


@pytest.fixture(scope="session")
def engine():
    """The Docker engine (``wharf run --docker`` tests)."""
    from wharf.testing.infra import unavailable

    try:
        import docker

        client = docker.from_env()
        client.ping()
    except Exception as exc:  # noqa: BLE001
        unavailable("a Docker engine", f"start dockerd ({exc})")
    return client


@pytest.fixture(scope="session")
def example_images(engine) -> list[str]:
    """The ab-router example's model images, built once per session with `invoke build`'s code."""
    from wharf.build.model import build_model

    examples = Path(__file__).resolve().parents[2] / "examples" / "models"
    for image, folder in AB_ROUTER_IMAGES.items():
        build_model(examples / folder, image, progress=None)
    return list(AB_ROUTER_IMAGES)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServerFactory]:
    factory = ServerFactory(tmp_path)
    yield factory
    factory.close()


@pytest.fixture(scope="module")
def serve_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerFactory]:
    factory = ServerFactory(tmp_path_factory.mktemp("servers"))
    yield factory
    factory.close()


_LOG_OFFSETS = pytest.StashKey[dict]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    # Logs of servers already running are attached from here on: only what this test caused.
    item.stash[_LOG_OFFSETS] = {id(s): len(s.log()) for s in LIVE_SERVERS}
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        offsets = item.stash.get(_LOG_OFFSETS, {})
        for server in list(LIVE_SERVERS):
            text = server.log()[offsets.get(id(server), 0) :]
            tail = "\n".join(text.splitlines()[-150:])
            report.sections.append((f"server log: {server.model} pid {server.pid}", tail or "(nothing new)"))
