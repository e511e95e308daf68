"""Sets up, starts and stops a single-node Kafka broker and Elasticsearch node.

For development, the demo and the test suite: both servers listen on
127.0.0.1 only and are stopped by the pids this module recorded.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from audit.errors import StackError
from audit.stack.layout import ES_USER, ES_VERSION, KAFKA_VERSION, LOG4J_VERSION, StackLayout

_KAFKA_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>elastra.audit.stack</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version></dependency>
    <!-- Kafka 4.x logs through slf4j 1.7: this binding routes it to Log4j 2. -->
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId>
      <version>{log4j}</version></dependency>
  </dependencies>
</project>
"""

_LOG4J2 = """status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
"""


@dataclass(frozen=True)
class ServerStatus:
    name: str
    version: str
    address: str
    pid: int | None
    healthy: bool
    log: Path

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "version": self.version,
            "address": self.address,
            "pid": self.pid,
            "healthy": self.healthy,
            "log": str(self.log),
        }


class LocalStack:
    def __init__(self, layout: StackLayout) -> None:
        self.layout = layout

    # ------------------------------------------------------------------ setup
    def fetch(self) -> None:
        """Download the broker jars and the Elasticsearch zip with Maven, once."""
        _require_tool("mvn", "install Maven (apt-get install maven)")
        libs = self.layout.kafka_libs
        if not (libs / f"kafka_2.13-{KAFKA_VERSION}.jar").exists():
            work = libs.parent
            work.mkdir(parents=True, exist_ok=True)
            (work / "pom.xml").write_text(
                _KAFKA_POM.format(kafka=KAFKA_VERSION, log4j=LOG4J_VERSION)
            )
            _run(
                [
                    "mvn",
                    "-q",
                    "-B",
                    "-f",
                    str(work / "pom.xml"),
                    "dependency:copy-dependencies",
                    f"-DoutputDirectory={libs}",
                    "-DincludeScope=runtime",
                ],
                "could not download the Kafka broker jars with Maven",
            )
        if not self.layout.es_zip.exists():
            self.layout.cache.mkdir(parents=True, exist_ok=True)
            _run(
                [
                    "mvn",
                    "-q",
                    "-B",
                    "dependency:copy",
                    "-Dartifact=org.elasticsearch.distribution.integ-test-zip:elasticsearch:"
                    f"{ES_VERSION}:zip",
                    f"-DoutputDirectory={self.layout.cache}",
                ],
                "could not download the Elasticsearch test distribution with Maven",
            )

    def _prepare_kafka(self) -> Path:
        kdir = self.layout.kafka_dir
        data = kdir / "data"
        kdir.mkdir(parents=True, exist_ok=True)
        props = kdir / "server.properties"
        port, cport = self.layout.kafka_port, self.layout.kafka_controller_port
        props.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{cport}",
                    f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    "inter.broker.listener.name=PLAINTEXT",
                    f"log.dirs={data}",
                    "num.partitions=3",
                    # Topics are created by the service with explicit partition counts.
                    "auto.create.topics.enable=false",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=6",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "log.retention.hours=168",
                    "",
                ]
            )
        )
        (kdir / "log4j2.properties").write_text(_LOG4J2.format(log=kdir / "server.log"))
        if not (data / "meta.properties").exists():
            _run(
                [
                    self._java("kafka"),
                    "-cp",
                    f"{self.layout.kafka_libs}/*",
                    "kafka.tools.StorageTool",
                    "format",
                    f"--cluster-id={kafka_cluster_id()}",
                    "-c",
                    str(props),
                ],
                "could not format the Kafka storage",
            )
        return props

    def _prepare_es(self) -> None:
        edir = self.layout.es_dir
        home = self.layout.es_home
        if not home.exists():
            edir.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(self.layout.es_zip) as archive:
                archive.extractall(edir)
            for script in (home / "bin").iterdir():
                script.chmod(0o755)
        for sub in ("data", "logs", "run", "tmp"):
            (edir / sub).mkdir(exist_ok=True)
        (home / "config" / "elasticsearch.yml").write_text(
            "\n".join(
                [
                    "cluster.name: elastra-audit-local",
                    "node.name: local-1",
                    "network.host: 127.0.0.1",
                    f"http.port: {self.layout.es_port}",
                    f"transport.port: {self.layout.es_transport_port}",
                    "discovery.type: single-node",
                    f"path.data: {edir / 'data'}",
                    f"path.logs: {edir / 'logs'}",
                    # A local development node: no TLS, no users. Production clusters
                    # are reached with API keys and CA certificates (see settings).
                    "xpack.security.enabled: false",
                    # A shared development disk must not flip indices to read-only.
                    "cluster.routing.allocation.disk.threshold_enabled: false",
                    "",
                ]
            )
        )
        heap = self.layout.es_heap
        (home / "config" / "jvm.options.d" / "heap.options").write_text(f"-Xms{heap}\n-Xmx{heap}\n")
        if os.geteuid() == 0:
            # Elasticsearch refuses to run as root.
            _ensure_system_user(ES_USER)
            _run(["chown", "-R", f"{ES_USER}:", str(edir)], "could not hand the ES folder over")
            # Every parent must be traversable by the ES user.
            for parent in edir.parents:
                if parent == Path("/"):
                    break
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    parent.chmod(mode | 0o001)

    # ------------------------------------------------------------ lifecycle
    def up(self, timeout: float = 120.0) -> list[ServerStatus]:
        self.fetch()
        self._start_kafka()
        self._start_es()
        deadline = time.monotonic() + timeout
        self._wait(
            lambda: _kafka_healthy(self.layout),
            "Kafka",
            self.layout.kafka_dir / "server.log",
            deadline,
        )
        self._wait(lambda: _es_healthy(self.layout), "Elasticsearch", self._es_log(), deadline)
        return self.status()

    def down(self) -> None:
        self.stop_es()
        self.stop_kafka()

    def start_es(self, timeout: float = 120.0) -> None:
        self._start_es()
        self._wait(
            lambda: _es_healthy(self.layout),
            "Elasticsearch",
            self._es_log(),
            time.monotonic() + timeout,
        )

    def stop_es(self) -> None:
        _stop_pid(self._pid_file("es"), "Elasticsearch")

    def start_kafka(self, timeout: float = 120.0) -> None:
        self._start_kafka()
        self._wait(
            lambda: _kafka_healthy(self.layout),
            "Kafka",
            self.layout.kafka_dir / "server.log",
            time.monotonic() + timeout,
        )

    def stop_kafka(self) -> None:
        _stop_pid(self._pid_file("kafka"), "Kafka")

    def status(self) -> list[ServerStatus]:
        layout = self.layout
        return [
            ServerStatus(
                f"kafka {KAFKA_VERSION}",
                KAFKA_VERSION,
                layout.kafka_bootstrap,
                _live_pid(self._pid_file("kafka")),
                _kafka_healthy(layout),
                layout.kafka_dir / "server.log",
            ),
            ServerStatus(
                f"elasticsearch {ES_VERSION}",
                ES_VERSION,
                layout.es_url,
                _live_pid(self._pid_file("es")),
                _es_healthy(layout),
                self._es_log(),
            ),
        ]

    # ------------------------------------------------------------- internals
    def _start_kafka(self) -> None:
        pid_file = self._pid_file("kafka")
        if _live_pid(pid_file):
            return
        _require_port_free(self.layout.kafka_port, "Kafka")
        _require_port_free(self.layout.kafka_controller_port, "Kafka controller")
        props = self._prepare_kafka()
        kdir = self.layout.kafka_dir
        cmd = [
            self._java("kafka"),
            f"-Xms{self.layout.kafka_heap}",
            f"-Xmx{self.layout.kafka_heap}",
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={kdir / 'log4j2.properties'}",
            "-cp",
            f"{self.layout.kafka_libs}/*",
            "kafka.Kafka",
            str(props),
        ]
        with open(kdir / "stdout.log", "ab") as out:
            proc = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        pid_file.write_text(str(proc.pid))

    def _start_es(self) -> None:
        pid_file = self._pid_file("es")
        if _live_pid(pid_file):
            return
        _require_port_free(self.layout.es_port, "Elasticsearch")
        _require_port_free(self.layout.es_transport_port, "Elasticsearch transport")
        self._prepare_es()
        edir = self.layout.es_dir
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "ES_JAVA_HOME": self._java_home("es"),
            "ES_TMPDIR": str(edir / "tmp"),
            "HOME": str(edir),
        }
        cmd = [str(self.layout.es_home / "bin" / "elasticsearch"), "-d", "-p", str(pid_file)]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", ES_USER, "--", *cmd]
        pid_file.unlink(missing_ok=True)
        # -d returns once the node has started (or failed); the pid file is
        # written by Elasticsearch itself.
        result = subprocess.run(
            cmd, env=env, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
        )
        if result.returncode != 0:
            tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
            raise StackError(
                f"Elasticsearch did not start; see {self._es_log()}:\n" + "\n".join(tail)
            )

    def _pid_file(self, name: str) -> Path:
        run = self.layout.es_dir / "run" if name == "es" else self.layout.kafka_dir
        run.mkdir(parents=True, exist_ok=True)
        return run / f"{name}.pid"

    def _es_log(self) -> Path:
        return self.layout.es_dir / "logs" / "elastra-audit-local.log"

    def _java_home(self, server: str) -> str:
        override = os.environ.get(f"AUDIT_STACK_{server.upper()}_JAVA_HOME") or os.environ.get(
            "AUDIT_STACK_JAVA_HOME"
        )
        if override:
            return override
        candidates = sorted(Path("/usr/lib/jvm").glob("*17*")) + sorted(
            Path("/usr/lib/jvm").glob("*")
        )
        for home in candidates:
            if (home / "bin" / "java").exists():
                return str(home)
        java = shutil.which("java")
        if java is None:
            raise StackError(
                "no Java found: install a JDK 17+ (apt-get install openjdk-17-jdk) "
                "or set AUDIT_STACK_JAVA_HOME"
            )
        return str(Path(java).resolve().parents[1])

    def _java(self, server: str) -> str:
        return str(Path(self._java_home(server)) / "bin" / "java")

    def _wait(self, check: object, name: str, log: Path, deadline: float) -> None:
        assert callable(check)
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.5)
        raise StackError(f"{name} did not become healthy in time; read {log}")


# ----------------------------------------------------------------- helpers
def _run(cmd: list[str], what: str) -> None:
    result = subprocess.run(
        cmd, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-20:])
        raise StackError(f"{what}: {' '.join(cmd[:3])} ... exited {result.returncode}\n{tail}")


def _require_tool(name: str, hint: str) -> None:
    if shutil.which(name) is None:
        raise StackError(f"{name} is not installed: {hint}")


def _ensure_system_user(name: str) -> None:
    probe = subprocess.run(["id", "-u", name], capture_output=True, check=False)
    if probe.returncode != 0:
        _run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            f"could not create the system user {name} that runs Elasticsearch",
        )


def kafka_cluster_id(draw: Callable[[], uuid.UUID] = uuid.uuid4) -> str:
    """A KRaft cluster id: a base64url-encoded UUID without padding.

    One draw in 64 starts with ``-``, which the storage tool then reads as an
    option (a clean-clone CI run failed so). Kafka's own generator
    (``Uuid.randomUuid``) draws again until the id does not: so do we.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(draw().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _require_port_free(port: int, what: str) -> None:
    if _port_open(port):
        raise StackError(
            f"port {port} for {what} is already taken by another process; stop it or "
            "choose other ports with AUDIT_STACK_KAFKA_PORT / AUDIT_STACK_ES_PORT"
        )


def _live_pid(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    # A zombie child of ours counts as gone.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return None
    except (FileNotFoundError, IndexError):
        return None
    return pid


def _stop_pid(pid_file: Path, name: str, timeout: float = 60.0) -> None:
    pid = _live_pid(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _live_pid(pid_file) is None:
            break
        _reap(pid)
        time.sleep(0.2)
    else:
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
    _reap(pid)
    pid_file.unlink(missing_ok=True)
    del name


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _es_healthy(layout: StackLayout) -> bool:
    url = f"{layout.es_url}/_cluster/health?wait_for_status=yellow&timeout=1s"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 (loopback URL)
            body = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return False
    return body.get("status") in ("yellow", "green")


def _kafka_healthy(layout: StackLayout) -> bool:
    if not _port_open(layout.kafka_port):
        return False
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(
            bootstrap_servers=layout.kafka_bootstrap,
            request_timeout_ms=3000,
            client_id="audit-stack-probe",
        )
    except (KafkaError, OSError, ValueError):
        return False
    try:
        admin.list_topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()
