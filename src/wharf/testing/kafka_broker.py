"""A real Apache Kafka broker on loopback for tests: KRaft mode (no ZooKeeper), jars from Maven Central.

``fetch()`` resolves ``org.apache.kafka:kafka_2.13`` and its runtime dependencies once with Maven
into ``~/.cache/wharf/kafka-<version>/libs`` (written to a temporary folder first and renamed, so
an interrupted fetch leaves nothing that looks complete). ``KafkaBroker`` formats a fresh storage
folder, runs ``kafka.Kafka`` with a small heap on two free loopback ports (clients and the KRaft
controller), waits until the broker answers a Kafka Metadata request that lists itself, and stops
it by its pid.

    python -m wharf.testing.kafka_broker --fetch     # pre-provision the jars (CI)
    python -m wharf.testing.kafka_broker --run       # a broker in the foreground, Ctrl-C stops it
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from wharf.local.process import free_port, stop_process

KAFKA_VERSION = "3.9.1"  # the last 3.x line: runs on JDK 11+, KRaft is production-ready
SCALA_VERSION = "2.13"
SLF4J_BINDING = ("org.slf4j", "slf4j-reload4j", "1.7.36")  # the binding Kafka 3.9's own distribution ships
HEAP = "-Xmx512m"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
HOW_TO_GET = "python -m wharf.testing.kafka_broker --fetch (needs a JDK 11+ and Maven)"


class KafkaUnavailable(RuntimeError):
    """Java, Maven or the broker jars are missing; the message says what and how to get it."""


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "wharf" / f"kafka-{KAFKA_VERSION}"


def libs_dir() -> Path:
    return cache_dir() / "libs"


def jars_present() -> bool:
    return (libs_dir() / f"kafka_{SCALA_VERSION}-{KAFKA_VERSION}.jar").is_file()


def java_binary() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and Path(home, "bin", "java").is_file():
        return str(Path(home, "bin", "java"))
    return shutil.which("java")


def missing() -> str | None:
    """What stops a broker from starting here, or None."""
    if java_binary() is None:
        return "no `java` on PATH (install a JDK 11+, e.g. apt-get install openjdk-17-jre-headless)"
    if not jars_present():
        return f"the Kafka {KAFKA_VERSION} jars are not in {libs_dir()}"
    return None


def pom_xml() -> str:
    """A throwaway Maven project whose only job is to name the broker's artifacts."""
    deps = [("org.apache.kafka", f"kafka_{SCALA_VERSION}", KAFKA_VERSION), SLF4J_BINDING]
    items = "\n".join(
        f"    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version></dependency>"
        for g, a, v in deps
    )
    return f"""<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>wharf.testing</groupId>
  <artifactId>kafka-broker-jars</artifactId>
  <version>{KAFKA_VERSION}</version>
  <packaging>pom</packaging>
  <dependencies>
{items}
  </dependencies>
</project>
"""


def fetch(quiet: bool = True) -> Path:
    """Download the broker jars once; returns the folder holding them."""
    if jars_present():
        return libs_dir()
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaUnavailable("no `mvn` on PATH to fetch the Kafka broker jars (apt-get install maven)")
    cache_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fetch-", dir=cache_dir()) as tmp:
        Path(tmp, "pom.xml").write_text(pom_xml())
        staging = Path(tmp, "libs")
        cmd = [
            mvn,
            "-B",
            *(["-q"] if quiet else []),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={staging}",
            "-DincludeScope=runtime",
        ]
        done = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
        if done.returncode != 0:
            raise KafkaUnavailable(
                f"mvn could not fetch org.apache.kafka:kafka_{SCALA_VERSION}:{KAFKA_VERSION} "
                f"(exit {done.returncode}):\n{(done.stdout + done.stderr)[-3000:]}"
            )
        if not (staging / f"kafka_{SCALA_VERSION}-{KAFKA_VERSION}.jar").is_file():
            raise KafkaUnavailable(f"mvn finished but {staging} holds no kafka_{SCALA_VERSION}-{KAFKA_VERSION}.jar")
        shutil.rmtree(libs_dir(), ignore_errors=True)
        staging.rename(libs_dir())
    return libs_dir()


def cluster_id() -> str:
    """KRaft wants a base64url UUID without padding (22 characters)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def server_properties(data_dir: Path, port: int, controller_port: int, partitions: int = 1) -> str:
    """One process that is both broker and KRaft controller, loopback only, single replica."""
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={data_dir}",
            f"num.partitions={partitions}",
            "auto.create.topics.enable=true",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=4",  # the default 50 makes the first consumer group slow to start
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "log.flush.interval.messages=1000000",
            "",
        ]
    )


LOG4J = """log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
"""


def metadata_brokers(host: str, port: int, timeout: float = 2.0) -> int:
    """How many brokers a Metadata v0 request (all topics) reports: > 0 once the broker serves clients.

    A hand-built request so readiness needs no Kafka client library: size, api key 3, version 0,
    correlation id, client id, then an empty topic array.
    """
    client = b"wharf-probe"
    body = struct.pack(">hhih", 3, 0, 7, len(client)) + client + struct.pack(">i", 0)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", _read(sock, 4))[0]
        reply = _read(sock, size)
    correlation, brokers = struct.unpack(">ii", reply[:8])
    if correlation != 7:
        raise OSError(f"unexpected correlation id {correlation} in the Metadata answer")
    return brokers


def _read(sock: socket.socket, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(n - got)
        if not chunk:
            raise OSError("connection closed by the broker")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


class KafkaBroker:
    """One broker process; ``bootstrap`` is what clients connect to (``127.0.0.1:<port>``)."""

    def __init__(self, workdir: Path | None = None, partitions: int = 1) -> None:
        self._own_tmp = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="wharf-kafka-"))
        self.partitions = partitions
        self.port = free_port()
        self.controller_port = free_port()  # never the same port twice (free_port remembers)
        self.process: subprocess.Popen | None = None
        self.log_path = self.workdir / "broker.log"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _java(self, main: str, *args: str) -> list[str]:
        java = java_binary()
        if java is None or not jars_present():
            raise KafkaUnavailable(f"{missing()}; {HOW_TO_GET}")
        return [
            java,
            HEAP,
            "-Xms128m",
            "-XX:+UseSerialGC",
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{self.workdir / 'log4j.properties'}",
            "-cp",
            f"{libs_dir()}/*",
            main,
            *args,
        ]

    def start(self, timeout: float = START_TIMEOUT_S) -> KafkaBroker:
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        props = self.workdir / "server.properties"
        props.write_text(server_properties(data, self.port, self.controller_port, self.partitions))
        (self.workdir / "log4j.properties").write_text(LOG4J)
        fmt = subprocess.run(
            self._java("kafka.tools.StorageTool", "format", "-t", cluster_id(), "-c", str(props)),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if fmt.returncode != 0:
            raise RuntimeError(
                f"formatting the Kafka storage failed (exit {fmt.returncode}):\n{fmt.stdout}{fmt.stderr}"
            )
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self._java("kafka.Kafka", str(props)),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the Kafka broker exited with code {self.process.returncode}; its log:\n{self.log()[-4000:]}"
                )
            try:
                if metadata_brokers("127.0.0.1", self.port) > 0:
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(
                    f"the Kafka broker did not answer on {self.bootstrap} within {timeout:.0f} s; "
                    f"its log:\n{self.log()[-4000:]}"
                )
            time.sleep(0.2)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """SIGTERM to our broker's pid (a controlled shutdown), then SIGKILL if it hangs."""
        code = None
        if self.process is not None:
            code = stop_process(self.process, timeout)
        if self._own_tmp:
            shutil.rmtree(self.workdir, ignore_errors=True)
        return code

    def __enter__(self) -> KafkaBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m wharf.testing.kafka_broker",
        description=f"Apache Kafka {KAFKA_VERSION} broker for tests (jars from Maven Central).",
    )
    p.add_argument("--fetch", action="store_true", help=f"download the jars into {libs_dir()} (once)")
    p.add_argument("--run", action="store_true", help="run a broker on a free loopback port until Ctrl-C")
    p.add_argument("--check", action="store_true", help="start a broker, check it answers, stop it")
    args = p.parse_args(argv)
    if not (args.fetch or args.run or args.check):
        p.error("give --fetch, --run or --check")
    try:
        if args.fetch:
            started = time.monotonic()
            was_there = jars_present()
            folder = fetch(quiet=True)
            print(
                f"Kafka {KAFKA_VERSION} jars {'already' if was_there else 'fetched'} in {folder} "
                f"({len(list(folder.glob('*.jar')))} jars, {time.monotonic() - started:.1f} s)"
            )
        if args.check or args.run:
            if (why := missing()) is not None:
                print(f"error: {why}; {HOW_TO_GET}", file=sys.stderr)
                return 2
            started = time.monotonic()
            broker = KafkaBroker().start()
            print(f"Kafka broker answering on {broker.bootstrap} after {time.monotonic() - started:.1f} s", flush=True)
            try:
                if args.run:
                    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
                    while broker.process is not None and broker.process.poll() is None:
                        time.sleep(0.5)
            except KeyboardInterrupt:
                pass
            finally:
                print(f"broker stopped (exit {broker.stop()})")
    except KafkaUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
