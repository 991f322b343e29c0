"""Fixtures for the Java wrapper tests: the wrapper built once, the vector model served by both servers."""

from __future__ import annotations

from collections.abc import Iterator

import java_support as js
import pytest


@pytest.fixture(scope="session")
def java_classpath(tmp_path_factory: pytest.TempPathFactory) -> str:
    jar, deps = js.maven_build()
    classes = js.compile_model(js.MODELS / "VectorModel.java", f"{jar}:{deps}", tmp_path_factory.mktemp("jclasses"))
    return f"{classes}:{jar}:{deps}"


@pytest.fixture(scope="session")
def vector_servers(java_classpath: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, js.Server]]:
    logs = tmp_path_factory.mktemp("server-logs")
    servers: dict[str, js.Server] = {}
    try:
        servers["python"] = js.python_server("VectorModel", js.MODELS, logs)
        servers["java"] = js.java_server("VectorModel", java_classpath, logs)
        yield servers
    finally:
        for server in servers.values():
            server.stop()
