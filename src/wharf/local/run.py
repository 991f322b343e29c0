"""``wharf run``: a whole SeldonDeployment predictor on one machine, no Kubernetes.

Each graph node runs as a local component server (``wharf serve``) on free loopback ports, or with
``--docker`` as a container from its image (:mod:`wharf.local.containers`), the orchestrator in
front on 8000/5001, every log line prefixed with its node's name.
A node's model folder is ``--source NAME=DIR``, else a folder named after the node or its image
(``wharf-examples/iris:0.1`` -> ``iris``) beside the file or in ``../models``; its class is the container's ``MODEL_NAME`` env, else the folder's
``.s2i/environment``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from wharf.deployment.graph import BUILTIN_IMPLEMENTATIONS, GraphError, Predictor, from_file
from wharf.deployment.servers import PREDICTOR_SERVERS, SERVER_CLASSES
from wharf.local.process import free_port, wait_http


@dataclass(frozen=True)
class NodePlan:
    name: str
    source: Path | None  # None: the node runs from its image
    model_class: str | None  # None: the image's own MODEL_NAME
    parameters: str  # JSON, as PREDICTIVE_UNIT_PARAMETERS
    image: str
    http_port: int
    grpc_port: int
    metrics_port: int
    model_folder: Path | None = None  # a prepackaged server's local model, mounted at /mnt/models in --docker
    remote_model: bool = False  # a prepackaged server fetching its model from a bucket itself


MODEL_MOUNT = "/mnt/models"


def _prepackaged(unit: Any, container: dict[str, Any], file: Path, images: bool) -> NodePlan:
    """A node with ``implementation`` + ``modelUri``: Wharf's server class (or its image, with --docker).

    A local ``modelUri`` (relative to the file) is read in place, or mounted at /mnt/models in the
    container as the storage initializer would fill it; an ``s3://`` one is fetched by the server,
    with the storage variables of this shell (AWS_*, RCLONE_CONFIG_*) passed on.
    """
    from wharf.storage import StorageError, is_remote

    where = f"{unit.path} ({unit.name})"
    server_class = SERVER_CLASSES.get(unit.implementation)
    if server_class is None:
        raise GraphError(f"{where}: implementation {unit.implementation} is not one wharf run can serve "
                         f"(it serves {', '.join(SERVER_CLASSES)}); deploy it to a cluster instead")
    if not unit.model_uri:
        raise GraphError(f"{where}: implementation {unit.implementation} needs a modelUri")
    if unit.model_uri.startswith("pvc://"):
        raise GraphError(f"{where}: modelUri {unit.model_uri}: a pvc:// claim exists only in a cluster")
    try:
        remote = is_remote(unit.model_uri, os.environ)
    except StorageError as exc:
        raise GraphError(f"{where}: modelUri {exc}") from None
    folder = None
    model_uri = unit.model_uri
    if not remote:
        folder = (file.parent / unit.model_uri.removeprefix("file://")).resolve()
        if not folder.exists():
            raise GraphError(f"{where}: modelUri {unit.model_uri}: no such file or directory ({folder})")
        model_uri = MODEL_MOUNT if images else str(folder)
    parameters = [p for p in unit.parameters if p.get("name") != "model_uri"]
    parameters.append({"name": "model_uri", "value": model_uri, "type": "STRING"})
    image = container.get("image") or PREDICTOR_SERVERS[unit.implementation]["seldon"]
    return NodePlan(unit.name, None if images else Path.cwd(), None if images else server_class,
                    json.dumps(parameters), image, free_port(), free_port(), free_port(),
                    folder if images else None, remote)


def _s2i_model_name(folder: Path) -> str | None:
    env_file = folder / ".s2i" / "environment"
    if not env_file.is_file():
        return None
    for line in env_file.read_text().splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key == "MODEL_NAME":
            return value.strip().strip('"')
    return None


def plan(predictor: Predictor, file: Path, sources: dict[str, str] | None = None,
         images: bool = False) -> list[NodePlan]:
    """Where each node's code (or image) is and which ports it gets; errors name the node and what
    is missing."""
    sources = sources or {}
    plans = []
    for unit in predictor.units():
        if not unit.has_server:
            continue
        container = predictor.containers.get(unit.name, {})
        if unit.implementation not in BUILTIN_IMPLEMENTATIONS:  # a prepackaged server (a user's model
            plans.append(_prepackaged(unit, container, file, images))  # with a modelUri stays below)
            continue
        if images:
            image = container.get("image")
            if not image:
                raise GraphError(f"{unit.path} ({unit.name}): --docker needs an image; the predictor's componentSpecs "
                                 f"have no container named {unit.name!r} with an image")
            plans.append(NodePlan(unit.name, None, None, json.dumps(list(unit.parameters)), image,
                                  free_port(), free_port(), free_port()))
            continue
        if unit.name in sources:
            candidates = [Path(sources[unit.name])]
        else:
            # A folder named after the node, else after the image (wharf-examples/iris:0.1 -> iris),
            # beside the file or in ../models: the folder s2i would build that image from.
            stems = [unit.name, container.get("image", "").rsplit("/", 1)[-1].split(":", 1)[0]]
            candidates = [base / stem for stem in dict.fromkeys(s for s in stems if s)
                          for base in (file.parent, file.parent.parent / "models")]
        folder = next((c for c in candidates if c.is_dir()), None)
        if folder is None:
            raise GraphError(f"{unit.path} ({unit.name}): no model folder; looked in "
                             f"{', '.join(str(c) for c in candidates)} (give one with --source {unit.name}=DIR)")
        env = {e.get("name"): e.get("value") for e in container.get("env") or [] if isinstance(e, dict)}
        model_class = env.get("MODEL_NAME") or _s2i_model_name(folder)
        if not model_class:
            raise GraphError(f"{unit.name}: no MODEL_NAME in the container's env or in {folder}/.s2i/environment")
        plans.append(NodePlan(unit.name, folder.resolve(), model_class, json.dumps(list(unit.parameters)),
                              container.get("image", f"{unit.name}:local"), free_port(), free_port(), free_port()))
    return plans


def local_predictor_spec(file: Path, predictor_name: str | None, plans: list[NodePlan]) -> dict[str, Any]:
    """The predictor's raw spec with every node's endpoint pointed at its local server."""
    ports = {p.name: p for p in plans}
    for doc in yaml.safe_load_all(file.read_text()):
        if not doc:
            continue
        predictors = (doc.get("spec") or {}).get("predictors") if doc.get("kind") == "SeldonDeployment" else [doc]
        for raw in predictors or []:
            if predictor_name is None or raw.get("name") == predictor_name:
                raw = json.loads(json.dumps(raw))
                _point(raw["graph"], ports, str((doc.get("spec") or {}).get("transport") or "rest").upper())
                raw.setdefault("annotations", {}).update((doc.get("metadata") or {}).get("annotations") or {})
                return raw
    raise GraphError(f"{file}: predictor {predictor_name!r} not found")


def _point(node: dict[str, Any], ports: dict[str, NodePlan], transport: str) -> None:
    plan_ = ports.get(node["name"])
    if plan_ is not None:
        kind = (node.get("endpoint") or {}).get("type", transport)
        node["endpoint"] = {"service_host": "127.0.0.1", "httpPort": plan_.http_port, "grpcPort": plan_.grpc_port,
                            "type": kind}
    for child in node.get("children") or []:
        _point(child, ports, transport)


def storage_env() -> dict[str, str]:
    """This shell's object-store settings, for a server container that fetches its model itself."""
    return {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "RCLONE_CONFIG_", "S3_"))}


class LocalGraph:
    """The running processes of one local graph; a context manager that stops them all."""

    def __init__(self, file: str | os.PathLike[str], *, predictor: str | None = None, sources: dict[str, str] | None = None,
                 http_port: int = 8000, grpc_port: int = 5001, out: Callable[[str], None] = print,
                 docker: bool = False) -> None:
        self.file = Path(file)
        self.predictor = from_file(self.file, predictor)
        self.docker = docker
        self.plans = plan(self.predictor, self.file, sources, images=docker)
        self.http_port, self.grpc_port = http_port, grpc_port
        self.out = out
        self._procs: list[tuple[str, Any]] = []  # subprocess.Popen or ContainerNode
        self._tmp = tempfile.TemporaryDirectory(prefix="wharf-run-")
        self._spec = local_predictor_spec(self.file, predictor, self.plans)

    def process_ids(self) -> dict[str, int]:
        """Name -> pid of the processes started locally (not containers): for CPU accounting."""
        return {name: proc.pid for name, proc in self._procs if isinstance(proc, subprocess.Popen)}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def _prefix(self, name: str) -> Callable[[str], None]:
        width = max([len(p.name) for p in self.plans] + [len("orchestrator")])
        return lambda line: self.out(f"[{name:<{width}}] {line.rstrip()}")

    def _start(self, name: str, cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen:
        proc = subprocess.Popen(cmd, cwd=cwd, env={**os.environ, **env}, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1)
        out = self._prefix(name)

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                out(line)

        threading.Thread(target=pump, name=f"log-{name}", daemon=True).start()
        self._procs.append((name, proc))
        return proc

    def _node_env(self, p: NodePlan) -> dict[str, str]:
        """The environment the operator gives a unit container, pointed at local ports."""
        env = {e["name"]: str(e.get("value", "")) for e in self.predictor.containers.get(p.name, {}).get("env") or []
               if isinstance(e, dict) and "name" in e}
        return {**env, "PREDICTIVE_UNIT_ID": p.name, "PREDICTIVE_UNIT_PARAMETERS": p.parameters,
                "PREDICTIVE_UNIT_IMAGE": p.image, "PREDICTOR_ID": self.predictor.name,
                "SELDON_DEPLOYMENT_ID": self.predictor.deployment, "PYTHONUNBUFFERED": "1",
                "PREDICTIVE_UNIT_HTTP_SERVICE_PORT": str(p.http_port),
                "PREDICTIVE_UNIT_GRPC_SERVICE_PORT": str(p.grpc_port),
                "PREDICTIVE_UNIT_METRICS_SERVICE_PORT": str(p.metrics_port)}

    def _start_node(self, p: NodePlan, client: Any) -> Any:
        if client is not None:
            from wharf.local.containers import ContainerNode

            # host network, so bind loopback only: the node must not be reachable from outside
            env = {**self._node_env(p), "WHARF_HOST": "127.0.0.1"}
            volumes = {}
            if p.model_folder is not None:
                volumes[str(p.model_folder)] = {"bind": MODEL_MOUNT, "mode": "ro"}
            if p.remote_model:
                env.update(storage_env())
            node = ContainerNode(client, p.name, p.image, env, self._prefix(p.name), volumes)
            self._procs.append((p.name, node))
            return node
        assert p.source is not None and p.model_class is not None
        return self._start(p.name, [sys.executable, "-m", "wharf.cli", "serve", p.model_class, "--host", "127.0.0.1",
                                    "--http-port", str(p.http_port), "--grpc-port", str(p.grpc_port),
                                    "--metrics-port", str(p.metrics_port), "--workers", "1"],
                           p.source, self._node_env(p))

    def start(self, timeout: float = 60.0) -> "LocalGraph":
        client = None
        if self.docker:
            from wharf.local.containers import docker_client

            client = docker_client()
        try:
            for p in self.plans:
                proc = self._start_node(p, client)
                wait_http(f"http://127.0.0.1:{p.http_port}/ready", timeout, proc)
            spec = Path(self._tmp.name, "predictor.json")
            spec.write_text(json.dumps(self._spec))
            orch = self._start("orchestrator", [sys.executable, "-m", "wharf.cli", "orchestrator", "--file", str(spec),
                                                "--host", "127.0.0.1", "--http-port", str(self.http_port),
                                                "--grpc-port", str(self.grpc_port), "--sdep", self.predictor.deployment,
                                                "--namespace", self.predictor.namespace], Path.cwd(), {"PYTHONUNBUFFERED": "1"})
            wait_http(f"{self.url}/ready", timeout, orch)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 15.0) -> dict[str, int]:
        """SIGTERM to every process we started, front first; returns exit codes by name."""
        codes = {}
        for name, proc in reversed(self._procs):
            if proc.poll() is None:
                proc.terminate()
        for name, proc in reversed(self._procs):
            try:
                codes[name] = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[name] = proc.wait()
        self._procs.clear()
        self._tmp.cleanup()
        return codes

    def wait(self) -> None:
        """Block until any process exits (or Ctrl-C)."""
        import time

        while all(proc.poll() is None for _, proc in self._procs):
            time.sleep(0.3)

    def __enter__(self) -> "LocalGraph":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
