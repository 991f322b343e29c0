"""``wharf run``: a whole SeldonDeployment predictor on one machine, no Kubernetes.

Each graph node runs as a local component server (``wharf serve``) on free loopback ports, or with
``--docker`` as a container from its image (:mod:`wharf.local.containers`), the orchestrator in
front on 8000/5001, every log line prefixed with its node's name.
A node's model folder is ``--source NAME=DIR``, else a folder named after the node or its image
(``wharf-examples/iris:0.1`` -> ``iris``) beside the file or in ``../models``; its class is the container's ``MODEL_NAME`` env, else the folder's
``.s2i/environment``.

A process that dies once the graph is up is restarted as a kubelet restarts a container
(:mod:`wharf.local.restarts`), the others serving on meanwhile; ``max_restarts`` makes the graph
stop instead (``NodeFailed``) once one has been restarted that many times.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wharf.deployment import model
from wharf.deployment.graph import GraphError, Predictor, Unit, from_file
from wharf.deployment.model import writable
from wharf.deployment.schema import BUILTIN_IMPLEMENTATIONS
from wharf.deployment.servers import MLSERVER_IMPLEMENTATIONS, SERVER_CLASSES, server_image
from wharf.local.process import free_port, port_in_use, wait_http
from wharf.local.restarts import Backoff, describe_exit, kill_group, stop_with_parent


class NodeFailed(GraphError):
    """A node (or the orchestrator) died once more than ``max_restarts`` allows: the graph stops."""


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
    # --docker: a bucket URI this machine fetches at start and mounts at /mnt/models, as the storage
    # initializer fills it in a pod (so the server container gets no credentials)
    remote_model: str = ""
    # --docker, protocol v2: the MLServer runtime the image loads (MLSERVER_MODEL_IMPLEMENTATION), as the
    # operator sets it; "" for a Wharf component server
    mlserver_runtime: str = ""

    @property
    def ready_path(self) -> str:
        return "/v2/health/ready" if self.mlserver_runtime else "/ready"


MODEL_MOUNT = "/mnt/models"


def _prepackaged(unit: Unit, container: Mapping[str, Any], file: Path, images: bool, protocol: str) -> NodePlan:
    """A node with ``implementation`` + ``modelUri``: Wharf's server class (or its image, with --docker).

    With --docker the image is the one the operator would give the pod for the file's protocol: Wharf's
    server image for ``seldon``, its MLServer image for ``v2`` (``kfserving``), set up as the
    operator sets it up. As a process, Wharf's class serves both (its server speaks V2 REST too).

    A local ``modelUri`` (relative to the file) is read in place, or mounted at /mnt/models in the
    container as the storage initializer would fill it. A bucket's (``s3://``, ``gs://``) is fetched
    with this shell's storage settings (AWS_*, RCLONE_CONFIG_*, GOOGLE_APPLICATION_CREDENTIALS):
    by the server process itself, or, with --docker, here before the container starts, into a
    folder mounted at /mnt/models.
    """
    from wharf.storage import StorageError, is_remote

    where = f"{unit.path} ({unit.name})"
    server_class = SERVER_CLASSES.get(unit.implementation)
    if server_class is None:
        raise GraphError(
            f"{where}: implementation {unit.implementation} is not one wharf run can serve "
            f"(it serves {', '.join(SERVER_CLASSES)}); deploy it to a cluster instead"
        )
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
    elif images:
        model_uri = MODEL_MOUNT
    parameters = [p for p in unit.parameters if p.get("name") != "model_uri"]
    parameters.append({"name": "model_uri", "value": model_uri, "type": "STRING"})
    v2 = images and protocol in ("v2", "kfserving")
    image = container.get("image") or server_image(unit.implementation, protocol if v2 else "seldon")
    return NodePlan(
        unit.name,
        None if images else Path.cwd(),
        None if images else server_class,
        json.dumps(parameters),
        image,
        free_port(),
        free_port(),
        free_port(),
        folder if images else None,
        unit.model_uri if remote and images else "",
        MLSERVER_IMPLEMENTATIONS[unit.implementation] if v2 else "",
    )


def _s2i_model_name(folder: Path) -> str | None:
    env_file = folder / ".s2i" / "environment"
    if not env_file.is_file():
        return None
    for line in env_file.read_text().splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key == "MODEL_NAME":
            return value.strip().strip('"')
    return None


def plan(
    predictor: Predictor, file: Path, sources: dict[str, str] | None = None, images: bool = False
) -> list[NodePlan]:
    """Where each node's code (or image) is and which ports it gets; errors name the node and what
    is missing."""
    sources = sources or {}
    plans = []
    for unit in predictor.units():
        if not unit.has_server:
            continue
        container = predictor.containers.get(unit.name, {})
        # a prepackaged server (a user's own model with a modelUri is planned below)
        if unit.implementation not in BUILTIN_IMPLEMENTATIONS:
            plans.append(_prepackaged(unit, container, file, images, predictor.protocol))
            continue
        if images:
            image = container.get("image")
            if not image:
                raise GraphError(
                    f"{unit.path} ({unit.name}): --docker needs an image; the predictor's componentSpecs "
                    f"have no container named {unit.name!r} with an image"
                )
            plans.append(
                NodePlan(
                    unit.name,
                    None,
                    None,
                    json.dumps(list(unit.parameters)),
                    image,
                    free_port(),
                    free_port(),
                    free_port(),
                )
            )
            continue
        if unit.name in sources:
            candidates = [Path(sources[unit.name])]
        else:
            # A folder named after the node, else after the image (wharf-examples/iris:0.1 -> iris),
            # beside the file or in ../models: the folder s2i would build that image from.
            stems = [unit.name, container.get("image", "").rsplit("/", 1)[-1].split(":", 1)[0]]
            candidates = [
                base / stem
                for stem in dict.fromkeys(s for s in stems if s)
                for base in (file.parent, file.parent.parent / "models")
            ]
        folder = next((c for c in candidates if c.is_dir()), None)
        if folder is None:
            raise GraphError(
                f"{unit.path} ({unit.name}): no model folder; looked in "
                f"{', '.join(str(c) for c in candidates)} (give one with --source {unit.name}=DIR)"
            )
        env = {e.get("name"): e.get("value") for e in container.get("env") or [] if isinstance(e, dict)}
        model_class = env.get("MODEL_NAME") or _s2i_model_name(folder)
        if not model_class:
            raise GraphError(f"{unit.name}: no MODEL_NAME in the container's env or in {folder}/.s2i/environment")
        plans.append(
            NodePlan(
                unit.name,
                folder.resolve(),
                model_class,
                json.dumps(list(unit.parameters)),
                container.get("image", f"{unit.name}:local"),
                free_port(),
                free_port(),
                free_port(),
            )
        )
    return plans


def local_predictor_spec(predictor: Predictor, plans: list[NodePlan]) -> dict[str, Any]:
    """The predictor's spec as written, with every node's endpoint pointed at its local server and
    the SeldonDeployment's annotations over its own."""
    assert predictor.source is not None  # from_file's predictors come from the typed model
    spec: dict[str, Any] = json.loads(json.dumps(predictor.source.raw))  # a copy, read through its own model
    resource = predictor.resource
    transport = resource.transport.upper() if resource else "REST"
    ports = {p.name: p for p in plans}
    for node in model.parse_predictor(spec).nodes():
        plan_ = ports.get(node.name)
        if plan_ is not None:
            writable(node.raw)["endpoint"] = {
                "service_host": "127.0.0.1",
                "httpPort": plan_.http_port,
                "grpcPort": plan_.grpc_port,
                "type": (node.endpoint.type if node.endpoint else None) or transport,
            }
    spec.setdefault("annotations", {}).update(resource.annotations if resource else {})
    return spec


class LocalGraph:
    """The running processes of one local graph; a context manager that stops them all."""

    def __init__(
        self,
        file: str | os.PathLike[str],
        *,
        predictor: str | None = None,
        sources: dict[str, str] | None = None,
        http_port: int = 8000,
        grpc_port: int = 5001,
        out: Callable[[str], None] = print,
        docker: bool = False,
        max_restarts: int | None = None,
        backoff: Callable[[], Backoff] = Backoff,
    ) -> None:
        self.file = Path(file)
        self.predictor = from_file(self.file, predictor)
        self.docker = docker
        self.plans = plan(self.predictor, self.file, sources, images=docker)
        self.http_port, self.grpc_port = http_port, grpc_port
        self.out = out
        self.max_restarts = max_restarts
        self._new_backoff = backoff
        # name -> subprocess.Popen or ContainerNode, in start order; how to start each again, when
        # it last started, its restart delays, and which are dead awaiting their restart
        self._procs: dict[str, Any] = {}
        self._starters: dict[str, Callable[[], Any]] = {}
        self._started_at: dict[str, float] = {}
        self._backoffs: dict[str, Backoff] = {}
        self._down: dict[str, float] = {}  # name -> when to start it again
        self._tmp = tempfile.TemporaryDirectory(prefix="wharf-run-")
        self._spec = local_predictor_spec(self.predictor, self.plans)

    def process_ids(self) -> dict[str, int]:
        """Name -> pid of the processes started locally (not containers): for CPU accounting."""
        return {name: proc.pid for name, proc in self._procs.items() if isinstance(proc, subprocess.Popen)}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def _prefix(self, name: str) -> Callable[[str], None]:
        width = max([len(p.name) for p in self.plans] + [len("orchestrator")])
        return lambda line: self.out(f"[{name:<{width}}] {line.rstrip()}")

    def _launch(self, name: str, starter: Callable[[], Any]) -> Any:
        """Start a process (or container) and keep ``starter`` to start it again after a crash."""
        proc = starter()
        self._procs[name] = proc
        self._starters[name] = starter
        self._started_at[name] = time.monotonic()
        return proc

    def _start(self, name: str, cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen:
        out = self._prefix(name)

        def spawn() -> subprocess.Popen:
            # its own session and process group: its workers can be killed with it, and a Ctrl-C in
            # the terminal reaches only `wharf run`, which stops the graph front first
            proc = subprocess.Popen(
                cmd,
                cwd=cwd,
                env={**os.environ, **env},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
                start_new_session=True,
                preexec_fn=stop_with_parent(),
            )

            def pump() -> None:
                assert proc.stdout is not None
                for line in proc.stdout:
                    out(line)

            threading.Thread(target=pump, name=f"log-{name}", daemon=True).start()
            return proc

        return self._launch(name, spawn)

    def _node_env(self, p: NodePlan) -> dict[str, str]:
        """The environment the operator gives a unit container, pointed at local ports."""
        env = {
            e["name"]: str(e.get("value", ""))
            for e in self.predictor.containers.get(p.name, {}).get("env") or []
            if isinstance(e, dict) and "name" in e
        }
        # The server's default, stated so that this shell's GUNICORN_WORKERS cannot change a node; the
        # container's own env (a SeldonDeployment asking for more workers) still wins, as in a pod.
        # MLSERVER_MODEL_NAME: the node's name is its model name in V2 calls, as the operator sets it
        return {
            "GUNICORN_WORKERS": "1",
            "MLSERVER_MODEL_NAME": p.name,
            **self._mlserver_env(p),
            **env,
            **self._mlserver_ports(p),
            "PREDICTIVE_UNIT_ID": p.name,
            "PREDICTIVE_UNIT_PARAMETERS": p.parameters,
            "PREDICTIVE_UNIT_IMAGE": p.image,
            "PREDICTOR_ID": self.predictor.name,
            "SELDON_DEPLOYMENT_ID": self.predictor.deployment,
            "PYTHONUNBUFFERED": "1",
            "PREDICTIVE_UNIT_HTTP_SERVICE_PORT": str(p.http_port),
            "PREDICTIVE_UNIT_GRPC_SERVICE_PORT": str(p.grpc_port),
            "PREDICTIVE_UNIT_METRICS_SERVICE_PORT": str(p.metrics_port),
        }

    @staticmethod
    def _mlserver_env(p: NodePlan) -> dict[str, str]:
        """An MLServer node's settings as the operator gives them, the container's own env winning:
        the model at /mnt/models, the runtime, version v1, no extra worker processes."""
        if not p.mlserver_runtime:
            return {}
        return {
            "MLSERVER_MODEL_URI": MODEL_MOUNT,
            "MLSERVER_MODEL_IMPLEMENTATION": p.mlserver_runtime,
            "MLSERVER_MODEL_VERSION": "v1",
            "MLSERVER_PARALLEL_WORKERS": "0",
        }

    @staticmethod
    def _mlserver_ports(p: NodePlan) -> dict[str, str]:
        """An MLServer node's ports, this machine's free ones on loopback (host network)."""
        if not p.mlserver_runtime:
            return {}
        return {
            "MLSERVER_HOST": "127.0.0.1",
            "MLSERVER_HTTP_PORT": str(p.http_port),
            "MLSERVER_GRPC_PORT": str(p.grpc_port),
            "MLSERVER_METRICS_PORT": str(p.metrics_port),
        }

    def _fetch_model(self, p: NodePlan) -> Path:
        """The storage initializer's work, on this machine: ``p.remote_model`` into a folder the
        container's user (1001, not this one) can read."""
        from wharf.storage import StorageError, download

        root = Path(self._tmp.name)
        target = root / "models" / p.name
        self._prefix(p.name)(f"fetching {p.remote_model} for /mnt/models")
        try:
            download(p.remote_model, target)
        except StorageError as exc:
            raise GraphError(f"{p.name}: modelUri {exc}") from None
        for path in (root, root / "models"):
            path.chmod(0o711)
        for path in [target, *target.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        return target

    def _start_node(self, p: NodePlan, client: Any) -> Any:
        if client is not None:
            from wharf.local.containers import ContainerNode

            # host network, so bind loopback only: the node must not be reachable from outside
            env = {**self._node_env(p), "WHARF_HOST": "127.0.0.1"}
            volumes = {}
            if p.model_folder is not None:
                volumes[str(p.model_folder)] = {"bind": MODEL_MOUNT, "mode": "ro"}
            if p.remote_model:
                volumes[str(self._fetch_model(p))] = {"bind": MODEL_MOUNT, "mode": "ro"}
            return self._launch(
                p.name, lambda: ContainerNode(client, p.name, p.image, env, self._prefix(p.name), volumes)
            )
        assert p.source is not None and p.model_class is not None
        return self._start(
            p.name,
            [
                sys.executable,
                "-m",
                "wharf.cli",
                "serve",
                p.model_class,
                "--host",
                "127.0.0.1",
                "--http-port",
                str(p.http_port),
                "--grpc-port",
                str(p.grpc_port),
                "--metrics-port",
                str(p.metrics_port),
            ],
            p.source,
            self._node_env(p),
        )

    def start(self, timeout: float = 60.0) -> LocalGraph:
        """Start every node, then the orchestrator. A port the user chose that is taken, or a node
        that exits before it is ready, raises GraphError naming the port or node (nothing is left running)."""
        for port, flag, what in ((self.http_port, "--http-port", "REST"), (self.grpc_port, "--grpc-port", "gRPC")):
            if port_in_use(port):
                raise GraphError(
                    f"port {port} on 127.0.0.1 (the graph's {what} port) is already in use; "
                    f"stop what listens there or choose another with {flag}"
                )
        client = None
        if self.docker and self.plans:  # a graph of built-ins only runs in the orchestrator: no engine needed
            from wharf.local.containers import docker_client

            client = docker_client()
        try:
            for p in self.plans:
                proc = self._start_node(p, client)
                self._wait_ready(p.name, f"http://127.0.0.1:{p.http_port}{p.ready_path}", timeout, proc)
            spec = Path(self._tmp.name, "predictor.json")
            spec.write_text(json.dumps(self._spec))
            orch = self._start(
                "orchestrator",
                [
                    sys.executable,
                    "-m",
                    "wharf.cli",
                    "orchestrator",
                    "--file",
                    str(spec),
                    "--host",
                    "127.0.0.1",
                    "--http-port",
                    str(self.http_port),
                    "--grpc-port",
                    str(self.grpc_port),
                    "--sdep",
                    self.predictor.deployment,
                    "--protocol",
                    self.predictor.protocol,
                    "--namespace",
                    self.predictor.namespace,
                ],
                Path.cwd(),
                {"PYTHONUNBUFFERED": "1"},
            )
            self._wait_ready("orchestrator", f"{self.url}/ready", timeout, orch)
        except BaseException:
            self.stop()
            raise
        return self

    @staticmethod
    def _wait_ready(name: str, url: str, timeout: float, proc: Any) -> None:
        try:
            wait_http(url, timeout, proc)
        except RuntimeError as exc:  # it exited: its own log lines, prefixed with its name, say why
            raise GraphError(f"{name} did not start ({exc}); its lines above, marked [{name}], say why") from None
        except TimeoutError as exc:
            raise GraphError(f"{name} was not ready within {timeout:.0f} s ({exc})") from None

    def stop(self, timeout: float = 15.0) -> dict[str, int]:
        """SIGTERM to the orchestrator, and once it has drained, to every node at once; SIGKILL to
        any still there after ``timeout`` and to anything left in its process group. Returns exit
        codes by name (a process already dead and awaiting its restart has none)."""
        codes: dict[str, int] = {}
        running = [(name, proc) for name, proc in reversed(self._procs.items()) if name not in self._down]
        # the orchestrator first and alone: requests it is still answering need their nodes
        front = [item for item in running if item[0] == "orchestrator"]
        for batch in (front, [item for item in running if item[0] != "orchestrator"]):
            for _name, proc in batch:
                if proc.poll() is None:
                    proc.terminate()
            for name, proc in batch:
                try:
                    codes[name] = proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    codes[name] = proc.wait()
        for _name, proc in reversed(self._procs.items()):
            if isinstance(proc, subprocess.Popen):  # a container took its processes with it
                kill_group(proc.pid)
        self._procs.clear()
        self._down.clear()
        self._tmp.cleanup()
        return codes

    @staticmethod
    def _reap(proc: Any) -> list[int]:
        """Kill what a dead process left behind; the pids killed."""
        if isinstance(proc, subprocess.Popen):
            return kill_group(proc.pid)  # its pid is its group's id (start_new_session)
        try:
            proc.wait(10)  # a container: removed, so that its name can be used again
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return []

    def wait(self, poll_s: float = 0.2) -> None:
        """Watch the graph until Ctrl-C (KeyboardInterrupt): restart any process that dies after
        its backoff delay, one line each time naming it and how it ended; raise NodeFailed instead
        once one has already been restarted ``max_restarts`` times."""
        while True:
            now = time.monotonic()
            for name, proc in list(self._procs.items()):
                if name not in self._down and proc.poll() is not None:
                    self._died(name, proc, now)
            for name, when in list(self._down.items()):
                if when <= now:
                    del self._down[name]
                    self._launch(name, self._starters[name])
            time.sleep(poll_s)

    def _died(self, name: str, proc: Any, now: float) -> None:
        left = self._reap(proc)
        code = proc.returncode
        what = name if name == "orchestrator" else f"node {name}"
        backoff = self._backoffs.setdefault(name, self._new_backoff())
        if self.max_restarts is not None and backoff.restarts >= self.max_restarts:
            self._down[name] = float("inf")  # never restarted; stop() skips it
            raise NodeFailed(
                f"{what} {describe_exit(code)}; restarted {backoff.restarts} time(s) already "
                f"(--max-restarts {self.max_restarts}): stopping the graph"
            )
        up_for = now - self._started_at[name]
        delay = backoff.delay(up_for)
        when = "now" if delay == 0 else f"in {delay:.0f} s (CrashLoopBackOff)"
        extra = f"; killed the {len(left)} process(es) it left behind ({', '.join(map(str, left))})" if left else ""
        self.out(
            f"wharf run: {what} {describe_exit(code)} after {up_for:.1f} s{extra}; restart {backoff.restarts} {when}"
        )
        self._down[name] = now + delay

    def __enter__(self) -> LocalGraph:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
