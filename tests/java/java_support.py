"""Building the Java wrapper and starting component servers (Python and Java) as real processes.

Every server binds loopback only on free ports, is waited for on ``/health/ping`` and is stopped
by its own pid (SIGTERM, then SIGKILL) on teardown.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from wharf.local.process import free_port
from wharf.testing import infra

ROOT = Path(__file__).resolve().parents[2]
WRAPPER = ROOT / "wrappers" / "java"
MODELS = Path(__file__).resolve().parent / "models"
VECTORS = ROOT / "tests" / "vectors"
START_TIMEOUT_S = 60.0

_CLEAR_ENV = (
    "PREDICTIVE_UNIT_",
    "GUNICORN_",
    "GRPC_",
    "SELDON_",
    "MODEL_",
    "WHARF_",
    "PREDICTOR_",
    "INCLUDE_METRICS_IN_CLIENT_RESPONSE",
    "PAYLOAD_PASSTHROUGH",
    "PROMETHEUS_MULTIPROC_DIR",
)


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_CLEAR_ENV)}
    env.update(extra or {})
    return env


def maven_build() -> tuple[Path, str]:
    """``mvn package`` of the wrapper (tests skipped: ``mvn verify`` runs them); the jar and its classpath."""
    if shutil.which("mvn") is None or shutil.which("javac") is None:
        infra.unavailable("Maven and a JDK 17", "apt-get install -y maven openjdk-17-jdk-headless")
    proc = subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            "package",
            "-DskipTests",
            "dependency:build-classpath",
            "-Dmdep.outputFile=target/classpath.txt",
        ],
        cwd=WRAPPER,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"mvn package failed in {WRAPPER}:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")
    jar = next((WRAPPER / "target").glob("wharf-java-wrapper-*.jar"))
    return jar, (WRAPPER / "target" / "classpath.txt").read_text().strip()


def compile_model(source: Path, classpath: str, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(["javac", "-d", str(out), "-cp", classpath, str(source)], check=True, timeout=300)
    return out


@dataclass
class Server:
    name: str
    proc: subprocess.Popen
    http_port: int
    grpc_port: int
    metrics_port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def start(
    name: str,
    argv: list[str],
    cwd: Path,
    log_dir: Path,
    env: dict[str, str] | None = None,
    ports: tuple[int, int, int] | None = None,
) -> Server:
    http_port, grpc_port, metrics_port = ports or (free_port(), free_port(), free_port())
    argv = [a.format(http=http_port, grpc=grpc_port, metrics=metrics_port) for a in argv]
    log_path = log_dir / f"{name}.log"
    handle = open(log_path, "w")
    proc = subprocess.Popen(argv, cwd=cwd, env=clean_env(env), stdout=handle, stderr=subprocess.STDOUT)
    server = Server(name, proc, http_port, grpc_port, metrics_port, log_path)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode} before serving:\n{server.log()[-3000:]}")
        try:
            if httpx.get(f"{server.url}/health/ping", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"{name} did not answer /health/ping within {START_TIMEOUT_S}s:\n{server.log()[-3000:]}")


def python_server(model: str, models_dir: Path, log_dir: Path, env: dict[str, str] | None = None) -> Server:
    micro = str(Path(sys.executable).parent / "seldon-core-microservice")
    argv = [
        micro,
        model,
        "--host",
        "127.0.0.1",
        "--http-port",
        "{http}",
        "--grpc-port",
        "{grpc}",
        "--metrics-port",
        "{metrics}",
        "--workers",
        "1",
    ]
    return start(f"python-{model}", argv, models_dir, log_dir, env)


def java_server(model: str, classpath: str, log_dir: Path, env: dict[str, str] | None = None) -> Server:
    argv = [
        "java",
        "-Xss512k",
        "-XX:+UseSerialGC",
        "-cp",
        classpath,
        "io.wharf.wrapper.Main",
        model,
        "--host",
        "127.0.0.1",
        "--http-port",
        "{http}",
        "--grpc-port",
        "{grpc}",
        "--metrics-port",
        "{metrics}",
    ]
    return start(f"java-{model}", argv, log_dir, log_dir, env)


# --- the Seldon compatibility layer (upstream-API handlers) --------------------------------------

COMPAT = WRAPPER / "seldon-compat"
UPSTREAM_FIXTURES = ROOT / "tests" / "fixtures" / "upstream-java"


def compat_build() -> str:
    """Install the wrapper, then package the compatibility artifact; its jar and runtime class path."""
    if shutil.which("mvn") is None or shutil.which("javac") is None:
        infra.unavailable("Maven and a JDK 17", "apt-get install -y maven openjdk-17-jdk-headless")
    proc = subprocess.run(
        ["mvn", "-q", "-B", "install", "-DskipTests", "-f", str(WRAPPER / "pom.xml")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if proc.returncode == 0:
        proc = subprocess.run(
            [
                "mvn",
                "-q",
                "-B",
                "package",
                "-DskipTests",
                "dependency:build-classpath",
                "-Dmdep.outputFile=target/classpath.txt",
            ],
            cwd=COMPAT,
            capture_output=True,
            text=True,
            timeout=900,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"mvn failed for {COMPAT}:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")
    jar = next((COMPAT / "target").glob("wharf-seldon-compat-*.jar"))
    return f"{jar}:{(COMPAT / 'target' / 'classpath.txt').read_text().strip()}"


def compile_project(sources: list[Path], resources: list[Path], classpath: str, out: Path) -> Path:
    """javac ``sources`` into ``out`` and copy ``resources`` beside the classes (a jar's layout)."""
    compile_model_files(sources, classpath, out)
    for resource in resources:
        shutil.copy(resource, out / resource.name)
    return out


def compile_model_files(sources: list[Path], classpath: str, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(["javac", "-d", str(out), "-cp", classpath, *map(str, sources)], check=True, timeout=300)
    return out


def compat_server(name: str, classes: Path, classpath: str, log_dir: Path, env: dict[str, str] | None = None) -> Server:
    """An upstream-style project served as the image runs it: the Launcher finds its app or handler."""
    argv = [
        "java",
        "-Xss512k",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        "-cp",
        f"{classes}:{classpath}",
        "io.seldon.wrapper.Launcher",
        "--server.address=127.0.0.1",
        "--server.port={http}",
        "--grpc.port={grpc}",
        "--PREDICTIVE_UNIT_METRICS_SERVICE_PORT={metrics}",
    ]
    return start(f"compat-{name}", argv, log_dir, log_dir, env)
