"""Kafka, ClickHouse and Redis for a laptop or CI machine without Docker.

Each service is started in the background from the project's own files, with its
pid file and log under DEVSERVICES_DIR. A service whose address is not on this
machine is external: the launcher only checks that it answers.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import unquote, urlsplit

logger = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).resolve().parent.parent
KAFKA_POM_DIR = PROJECT_DIR / "devservices" / "kafka"
GO_TOOLS_DIR = PROJECT_DIR / "devservices"  # devservices/kustomize, devservices/podsecurity
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}


class PrerequisiteMissing(Exception):
    """A program the service needs is not installed; the message says what to install."""


class ServiceFailed(Exception):
    """The service did not come up; the message says why and where its log is."""


class Service:
    name: str
    start_timeout = 60.0

    def __init__(self, state_dir: Path):
        self.state_dir = state_dir

    # -- what each service defines ------------------------------------------------
    @property
    def address(self) -> tuple[str, int]:
        raise NotImplementedError

    def command(self) -> list[str]:
        raise NotImplementedError

    def healthy(self) -> bool:
        raise NotImplementedError

    def prepare(self) -> None:
        """One-time work before the first start (downloads, formatting)."""

    def environment(self) -> dict[str, str]:
        return {}

    def after_start(self) -> None:
        """Work once the service answers (creating topics)."""

    # -- shared mechanics -----------------------------------------------------------
    @property
    def managed(self) -> bool:
        """Only services on this machine are started here; others are external."""
        return self.address[0] in LOCAL_HOSTS

    @property
    def pid_file(self) -> Path:
        return self.state_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / f"{self.name}.log"

    def describe(self) -> str:
        host, port = self.address
        return f"{host}:{port}"

    def started_pid(self) -> int | None:
        """The pid of the process this launcher started, if it still runs."""
        try:
            pid = int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return pid

    def up(self) -> str:
        """Start unless already answering; wait until healthy. Returns what was done."""
        if self.healthy():
            self.after_start()
            return "already running"
        if not self.managed:
            raise ServiceFailed(f"{self.name}: external service at {self.describe()} does not answer")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        self.prepare()
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=PROJECT_DIR,
                env={**os.environ, **self.environment()},
                start_new_session=True,  # survives the launcher; `down` stops it
            )
        self.pid_file.write_text(str(process.pid))
        deadline = started + self.start_timeout
        while not self.healthy():
            if process.poll() is not None:
                raise ServiceFailed(f"{self.name} exited with status {process.returncode}; see {self.log_file}")
            if time.monotonic() > deadline:
                raise ServiceFailed(f"{self.name} did not answer within {self.start_timeout:.0f} s; see {self.log_file}")
            time.sleep(0.1)
        self.after_start()
        return f"started (pid {process.pid}) in {time.monotonic() - started:.1f} s"

    def down(self, timeout: float = 20.0) -> str:
        pid = self.started_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return "not started here"
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.started_pid() is not None and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.1)
        if self.started_pid() is not None:
            os.killpg(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return f"stopped (pid {pid})"


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _host_port(text: str, default_port: int) -> tuple[str, int]:
    parsed = urlsplit(text if "//" in text else f"//{text}")
    return parsed.hostname or "127.0.0.1", parsed.port or default_port


def _port_open(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=0.5):
            return True
    except OSError:
        return False


def require(program: str, install_hint: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise PrerequisiteMissing(f"{program} not found: install {install_hint}")
    return path


def go_tool(name: str, package: str) -> Path:
    """devservices/<name>'s Go program, pinned by its go.mod and go.sum, built once through the
    Go module proxy into devservices/<name>/target; later calls find it cached, as Kafka's
    jars are."""
    directory = GO_TOOLS_DIR / name
    binary, stamp = directory / "target" / name, directory / "target" / ".go.sha256"
    sources = sorted(directory.glob("*.go")) + [directory / "go.mod", directory / "go.sum"]
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in sources)).hexdigest()
    if binary.exists() and stamp.exists() and stamp.read_text() == digest:
        return binary
    go = require("go", "Go 1.26+ (https://go.dev/doc/install, or apt-get install golang)")
    logger.info("building %s from its Go module (once)", name)
    subprocess.run([go, "build", "-o", str(binary), package], cwd=directory, check=True,
                   env={**os.environ, "GOFLAGS": "-mod=mod -buildvcs=false"})
    stamp.write_text(digest)
    return binary


def kustomize() -> Path:
    """kustomize, the version devservices/kustomize pins."""
    return go_tool("kustomize", "sigs.k8s.io/kustomize/kustomize/v5")


def podsecurity() -> Path:
    """The Pod Security "restricted" checker of devservices/podsecurity (Kubernetes' own checks)."""
    return go_tool("podsecurity", ".")


class Kafka(Service):
    """Apache Kafka in KRaft mode (one node, broker and controller), jars from Maven Central."""

    name = "kafka"
    heap = os.environ.get("KAFKA_HEAP", "1g")

    def __init__(self, state_dir: Path, bootstrap_servers: str, topics: list[tuple[str, int]]):
        super().__init__(state_dir)
        self.bootstrap_servers = bootstrap_servers
        self.topics = topics

    @property
    def address(self) -> tuple[str, int]:
        return _host_port(self.bootstrap_servers.split(",")[0], 9092)

    @property
    def home(self) -> Path:
        return self.state_dir / "kafka"

    @property
    def jars(self) -> Path:
        return KAFKA_POM_DIR / "target" / "dependency"

    def prepare(self) -> None:
        java = require("java", "a Java 17+ runtime (apt-get install openjdk-17-jre-headless)")
        self._resolve_jars()
        self.home.mkdir(parents=True, exist_ok=True)
        properties = self.home / "server.properties"
        properties.write_text(self._server_properties())
        if not (self.home / "data" / "meta.properties").exists():
            logger.info("formatting Kafka storage in %s", self.home / "data")
            subprocess.run(
                [java, "-cp", f"{self.jars}/*", "kafka.tools.StorageTool", "format",
                 "--cluster-id", _kafka_cluster_id(), "--config", str(properties), "--ignore-formatted"],
                check=True, stdout=subprocess.DEVNULL,
            )

    def _resolve_jars(self) -> None:
        """Fetch the broker's jars once; later starts find them cached."""
        stamp = self.jars / ".pom.sha256"
        digest = hashlib.sha256((KAFKA_POM_DIR / "pom.xml").read_bytes()).hexdigest()
        if stamp.exists() and stamp.read_text() == digest:
            return
        mvn = require("mvn", "Apache Maven (apt-get install maven)")
        logger.info("resolving Kafka jars from Maven Central (once)")
        shutil.rmtree(self.jars, ignore_errors=True)
        subprocess.run(
            [mvn, "-q", "-B", "-Dstyle.color=never", "dependency:copy-dependencies", "-DincludeScope=runtime"],
            cwd=KAFKA_POM_DIR, check=True,
        )
        stamp.write_text(digest)

    @property
    def shutdown_proxy_ports(self) -> tuple[int, int, int]:
        """(proxy, PROXIED, UNADVERTISED): the ports of tests/kafka_proxy.py and of the two
        listeners it stands in front of. Kafka advertises PROXIED at the proxy's port, so a
        client that bootstraps there reaches the broker through the proxy only; UNADVERTISED
        is in no broker's registration, so its Metadata answers list no broker, as a lone
        broker's last answers do while it shuts down."""
        port = self.address[1]
        return port + 3, port + 2, port + 4

    def _server_properties(self) -> str:
        host, port = self.address
        controller = port + 1
        proxy, proxied, unadvertised = self.shutdown_proxy_ports
        return "\n".join([
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@{host}:{controller}",
            f"listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller},"
            f"PROXIED://{host}:{proxied},UNADVERTISED://{host}:{unadvertised}",
            f"advertised.listeners=PLAINTEXT://{host}:{port},PROXIED://{host}:{proxy}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,PROXIED:PLAINTEXT,"
            "UNADVERTISED:PLAINTEXT",
            f"log.dirs={self.home / 'data'}",
            "num.partitions=3",
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            # One node: no reason to wait for more members before the first rebalance.
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false",
            # Dead letters keep a rejected message whole, however large it was.
            "message.max.bytes=4194304",
            "replica.fetch.max.bytes=4194304",
            "",
        ])

    def command(self) -> list[str]:
        return [
            "java", "-Xms256m", f"-Xmx{self.heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={KAFKA_POM_DIR / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.home}",
            "-cp", f"{self.jars}/*", "kafka.Kafka", str(self.home / "server.properties"),
        ]

    def healthy(self) -> bool:
        if not _port_open(self.address):
            return False
        from confluent_kafka.admin import AdminClient

        try:
            metadata = AdminClient({"bootstrap.servers": self.bootstrap_servers}).list_topics(timeout=2)
        except Exception:  # noqa: BLE001 - any failure means "not ready yet"
            return False
        return bool(metadata.brokers)

    def after_start(self) -> None:
        from infra.kafka import ensure_topic

        for topic, partitions in self.topics:
            ensure_topic(topic, partitions, self.bootstrap_servers)


def _kafka_cluster_id() -> str:
    """A Kafka cluster id: a UUID in URL-safe base64 without padding.

    Like Kafka's own ``Uuid.randomUuid``, it never starts with "-": the storage
    tool's argument parser would take such an id for an option (1 draw in 64).
    """
    import base64

    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class ClickHouse(Service):
    """The embedded endpoint: chdb-core behind ClickHouse's HTTP interface."""

    name = "clickhouse"
    start_timeout = 30.0

    def __init__(self, state_dir: Path, url: str, readonly_url: str, panel_url: str):
        super().__init__(state_dir)
        self.url = urlsplit(url)
        self.readonly_url = urlsplit(readonly_url)
        self.panel_url = urlsplit(panel_url)

    @property
    def address(self) -> tuple[str, int]:
        return self.url.hostname or "127.0.0.1", self.url.port or 8123

    def command(self) -> list[str]:
        host, port = self.address
        return [sys.executable, "-m", "devservices.chendpoint", "--host", host, "--port", str(port),
                "--data-dir", str(self.state_dir / "clickhouse")]

    def environment(self) -> dict[str, str]:
        # The writer has full access, as `default` has on a fresh server; the read users are
        # deploy/clickhouse/users.xml's, their passwords those of the project's URLs.
        return {
            "CHENDPOINT_USERS": f"{self.url.username or 'default'}:{unquote(self.url.password or '')}",
            "CHENDPOINT_READONLY_USERS": "",
            "CLICKHOUSE_READONLY_PASSWORD": unquote(self.readonly_url.password or ""),
            "CLICKHOUSE_PANEL_PASSWORD": unquote(self.panel_url.password or ""),
        }

    def healthy(self) -> bool:
        host, port = self.address
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/ping", timeout=1) as response:
                return response.read().strip() == b"Ok."
        except OSError:
            return False


class Redis(Service):
    """Debian's redis-server, without persistence: the channel layer needs none."""

    name = "redis"
    start_timeout = 15.0

    def __init__(self, state_dir: Path, url: str):
        super().__init__(state_dir)
        self.url = url

    @property
    def address(self) -> tuple[str, int]:
        parsed = urlsplit(self.url)
        return parsed.hostname or "127.0.0.1", parsed.port or 6379

    def command(self) -> list[str]:
        server = require("redis-server", "Redis (apt-get install redis-server)")
        host, port = self.address
        return [server, "--bind", host, "--port", str(port), "--save", "", "--appendonly", "no",
                "--daemonize", "no", "--dir", str(self.state_dir)]

    def healthy(self) -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=1).ping())
        except (redis.RedisError, OSError):
            return False


def configured_services() -> list[Service]:
    """The three services as the Django settings describe them."""
    from django.conf import settings

    state_dir = Path(settings.DEVSERVICES_DIR)
    return [
        Kafka(state_dir, settings.KAFKA_BOOTSTRAP_SERVERS, [(settings.KAFKA_TOPIC, settings.KAFKA_TOPIC_PARTITIONS)]),
        ClickHouse(state_dir, settings.CLICKHOUSE_URL, settings.CLICKHOUSE_READONLY_URL, settings.CLICKHOUSE_PANEL_URL),
        Redis(state_dir, settings.REDIS_URL),
    ]
