"""Deployment files, checked offline (no Docker engine or cluster on these machines)."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from xml.etree import ElementTree

import pytest
import yaml

from clickhouse import cluster, shards
from clickhouse.migrate import Migrator, discover
from tests.conftest import PROJECT_DIR
from tests.deployment import K8S, containers, generated, render

KUBERNETES_VERSION = "1.33.0"
DEV_ONLY_VARIABLES = {"DEVSERVICES_DIR"}  # where the embedded dev services live; unused in containers
SECRET_VARIABLES = {"DJANGO_SECRET_KEY", "DATABASE_URL", "CLICKHOUSE_URL", "CLICKHOUSE_READONLY_URL", "CLICKHOUSE_PANEL_URL"}
# Differ between the two platforms by design: addresses, and compose serving plain HTTP
# on localhost where Kubernetes sits behind a TLS ingress.
PLATFORM_VARIABLES = {"KAFKA_BOOTSTRAP_SERVERS", "REDIS_URL", "DJANGO_ALLOWED_HOSTS", "DJANGO_CSRF_TRUSTED_ORIGINS",
                      "DJANGO_SECURE_COOKIES", "DJANGO_SSL_REDIRECT", "DJANGO_HSTS_SECONDS",
                      "DJANGO_TRUST_X_FORWARDED_PROTO", "DASHBOARD_LOGIN_REQUIRED"}


def settings_variables() -> set[str]:
    source = (PROJECT_DIR / "trademonitor" / "settings.py").read_text()
    return set(re.findall(r'env(?:_bool|_list)?\(\s*"([A-Z_]+)"', source))


def compose() -> dict:
    return yaml.safe_load((PROJECT_DIR / "docker-compose.yml").read_text())


# -- docker compose ------------------------------------------------------------------------
def test_compose_file_validates_against_the_compose_specification():
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
         str(PROJECT_DIR / "docker-compose.yml")],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def app_services() -> dict:
    return {name: service for name, service in compose()["services"].items()
            if service.get("image", "").startswith("trademonitor")}


def test_every_app_command_exists_in_the_app():
    commands = set()
    for service in app_services().values():
        command = service["command"]
        text = " ".join(command)
        commands.update(re.findall(r"manage\.py (\w+)", text))
    assert commands >= {"migrate", "chmigrate", "loadsymbols", "runworkers", "producetrades"}
    for name in commands:
        result = subprocess.run([sys.executable, "manage.py", "help", name], cwd=PROJECT_DIR, capture_output=True)
        assert result.returncode == 0, name


def test_start_order_follows_health():
    services = compose()["services"]
    assert services["migrate"]["depends_on"]["clickhouse"]["condition"] == "service_healthy"
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["workers"]["depends_on"]["kafka-topics"]["condition"] == "service_completed_successfully"
    assert services["producer"]["depends_on"]["workers"]["condition"] == "service_healthy"
    for name in ("kafka", "clickhouse", "redis", "postgres", "workers"):
        assert "healthcheck" in services[name], name
    assert "kafdrop" in services["kafdrop"]["profiles"] and "monitoring" in services["grafana"]["profiles"]


# -- kubernetes ------------------------------------------------------------------------------
@pytest.mark.parametrize("overlay", ["keda", "hpa", "cluster"])
def test_every_manifest_validates_against_the_kubernetes_schema(overlay):
    import kubernetes_validate

    documents = render(K8S / "overlays" / overlay)
    kinds = {document["kind"] for document in documents}
    assert {"StatefulSet", "Deployment", "Service", "Ingress", "Job", "PodDisruptionBudget", "ConfigMap"} <= kinds
    for document in documents:
        if document["apiVersion"].startswith("keda.sh/"):
            continue  # a custom resource: checked structurally below
        kubernetes_validate.validate(copy.deepcopy(document), KUBERNETES_VERSION, strict=True)


def test_the_cluster_overlay_is_the_cluster_the_workers_and_migrations_are_told_of():
    documents = render(K8S / "overlays" / "cluster")
    config = generated(documents, "ConfigMap", "trademonitor-config")["data"]
    xml = ElementTree.fromstring(generated(documents, "ConfigMap", "clickhouse-cluster-config")["data"]["cluster.xml"])
    [cluster_xml] = list(xml.find("remote_servers"))
    shard_sets = {d["metadata"]["name"]: d for d in documents
                  if d["kind"] == "StatefulSet" and d["metadata"]["name"].startswith("clickhouse")}

    def pods(statefulset: dict) -> list[str]:
        return [f"{statefulset['metadata']['name']}-{n}.{statefulset['spec']['serviceName']}"
                for n in range(statefulset["spec"]["replicas"])]

    # 2 shards x 2 replicas, in remote_servers order, as CLICKHOUSE_SHARDS lists them for the workers.
    assert config["CLICKHOUSE_CLUSTER"] == cluster_xml.tag == "trademonitor"
    remote = [[replica.findtext("host") for replica in shard.iter("replica")] for shard in cluster_xml.iter("shard")]
    assert [[host.rsplit(":", 1)[0] for host in shard] for shard in shards.parse(config["CLICKHOUSE_SHARDS"])] \
        == remote == [pods(shard_sets["clickhouse-shard-0"]), pods(shard_sets["clickhouse-shard-1"])]
    assert all(shard.findtext("internal_replication") == "true" for shard in cluster_xml.iter("shard"))
    assert "clickhouse" not in shard_sets  # the single server gave way
    for index, name in enumerate(["clickhouse-shard-0", "clickhouse-shard-1"]):
        [container] = containers(shard_sets[name])
        env = {variable["name"]: variable for variable in container["env"]}
        assert env["CLICKHOUSE_SHARD"]["value"] == str(index)  # the {shard} macro
        assert env["CLICKHOUSE_CLUSTER_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == "trademonitor-secrets"
        mounted = {v["configMap"]["name"] for v in shard_sets[name]["spec"]["template"]["spec"]["volumes"]}
        assert generated(documents, "ConfigMap", "clickhouse-users")["metadata"]["name"] in mounted  # the same users
    # Keeper: three nodes, each ClickHouse server talks to all three, the ledger lives there.
    [keeper] = [d for d in documents if d["kind"] == "StatefulSet" and d["metadata"]["name"] == "keeper"]
    assert [node.findtext("host") for node in xml.find("zookeeper")] == [p.split(".")[0] + ".keeper" for p in
                                                                         pods(keeper)]
    assert xml.findtext("keeper_map_path_prefix") and xml.find("macros/replica").get("from_env") == "HOSTNAME"
    # The `clickhouse` Service, which every URL names, reaches the shards' servers.
    [service] = [d for d in documents if d["kind"] == "Service" and d["metadata"]["name"] == "clickhouse"]
    for statefulset in shard_sets.values():
        assert service["spec"]["selector"].items() <= statefulset["spec"]["template"]["metadata"]["labels"].items()
    # The migrate Job reads the same configuration: it builds the cluster schema.
    [migrate] = [d for d in documents if d["kind"] == "Job" and d["metadata"]["name"] == "migrate"]
    [container] = containers(migrate)
    assert "chmigrate" in container["command"][-1]
    assert {"configMapRef": {"name": generated(documents, "ConfigMap", "trademonitor-config")["metadata"]["name"]}} \
        in container["envFrom"]


def test_keda_scaled_object_targets_the_workers_on_consumer_lag():
    documents = render(K8S / "overlays" / "keda")
    [scaled] = [d for d in documents if d["kind"] == "ScaledObject"]
    deployments = {d["metadata"]["name"] for d in documents if d["kind"] == "Deployment"}
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["spec"]["scaleTargetRef"]["name"] == "workers" in deployments
    [trigger] = scaled["spec"]["triggers"]
    assert trigger["type"] == "kafka" and trigger["metadata"]["topic"] == "trades"
    assert trigger["metadata"]["consumerGroup"] == "trade-monitor"


def test_app_containers_have_probes_resources_and_no_literal_secrets():
    for document in render(K8S / "overlays" / "hpa"):
        for container in containers(document):
            assert "resources" in container and {"requests", "limits"} <= set(container["resources"])
            if document["kind"] in ("Deployment", "StatefulSet"):
                assert "livenessProbe" in container, document["metadata"]["name"]
            for variable in container.get("env", []):
                assert "PASSWORD" not in variable["name"] or "valueFrom" in variable


# -- settings everywhere -------------------------------------------------------------------
def test_every_setting_is_set_consistently_in_compose_and_kubernetes():
    wanted = settings_variables() - DEV_ONLY_VARIABLES
    assert {"DJANGO_SECRET_KEY", "CLICKHOUSE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS"} <= wanted

    for name, service in app_services().items():
        missing = wanted - set(service["environment"])
        assert not missing, f"compose service {name} lacks {missing}"

    config = generated(render(K8S / "overlays" / "hpa"), "ConfigMap", "trademonitor-config")
    in_kubernetes = set(config["data"]) | SECRET_VARIABLES
    assert wanted <= in_kubernetes, wanted - in_kubernetes
    assert not SECRET_VARIABLES & set(config["data"]), "secrets belong in the Secret, not the ConfigMap"
    compose_env = next(iter(app_services().values()))["environment"]
    for variable in wanted - SECRET_VARIABLES - PLATFORM_VARIABLES:
        assert str(compose_env[variable]) == config["data"][variable], variable


def test_dockerfile_is_multistage_pinned_non_root_with_healthcheck():
    dockerfile = (PROJECT_DIR / "Dockerfile").read_text()
    bases = re.findall(r"^FROM (\S+)", dockerfile, re.M)
    assert len(bases) == 2 and all(re.match(r"python:3\.11\.\d+-slim", base) for base in bases)
    assert re.search(r"^USER app$", dockerfile, re.M) and "HEALTHCHECK" in dockerfile
    assert "chdb" not in (PROJECT_DIR / "requirements.txt").read_text()  # the dev endpoint stays out of images
    assert ".venv" in (PROJECT_DIR / ".dockerignore").read_text()


# -- ClickHouse at scale -------------------------------------------------------------------
def test_cluster_ddl_matches_the_single_node_schema_table_by_table():
    migrator = Migrator("http://default:@127.0.0.1:1/db", "tm", cluster="prod")
    single = [s for m in discover() for s in m.statements()]
    clustered = [s for m in discover() for s in migrator.statements(m)]

    tables = [name for name, engine in re.findall(r"CREATE TABLE IF NOT EXISTS (\w+).*?ENGINE = (\w+)",
                                                   "\n".join(single), re.S) if engine.endswith("MergeTree")]
    views = re.findall(r"CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+) TO (\w+)", "\n".join(single))
    assert tables[:3] == ["trades", "symbol_totals", "candles_1m"]
    for statement in clustered:
        assert " ON CLUSTER prod " in statement
        assert "non_replicated_deduplication_window" not in statement
        if "Replicated" in statement:  # a replayed range is recognised for a week, as on one node for 10,000 blocks
            assert "replicated_deduplication_window = 10000, replicated_deduplication_window_seconds = 604800" \
                in statement
    text = "\n".join(clustered)
    for table in tables:
        local = cluster.local(table)
        [local_ddl] = [s for s in clustered if s.startswith(f"CREATE TABLE IF NOT EXISTS {local} ")]
        [single_ddl] = [s for s in single if re.search(rf"CREATE TABLE IF NOT EXISTS {table}\b", s)]
        assert _columns(local_ddl) == _columns(single_ddl)
        assert re.search(rf"ENGINE = Replicated\w*MergeTree\('/clickhouse/tables/{{shard}}/tm/{local}', '{{replica}}'\)",
                         local_ddl)
    for view, target in views:
        [single_view] = [s for s in single if f"VIEW IF NOT EXISTS {view} " in s]
        source = re.search(r"\bFROM (\w+)", single_view).group(1)
        assert re.search(rf"VIEW IF NOT EXISTS {view} ON CLUSTER prod TO {target}_local AS.*FROM {source}_local",
                         text, re.S)


@pytest.mark.services
def test_clickhouse_parses_every_cluster_statement(services):
    """No cluster here to run them on (no Keeper), but ClickHouse's own parser reads each."""
    from clickhouse.connection import writer

    client = writer()
    migrator = Migrator("http://default:@127.0.0.1:1/db", "tm", cluster="prod")
    for statement in (s for m in discover() for s in migrator.statements(m)):
        assert b"CreateQuery" in client.raw_query(f"EXPLAIN AST {statement}", fmt="TSV"), statement[:80]


def test_cluster_ddl_statement_by_statement():
    """Every statement `chmigrate --cluster` runs, in order: partition-aligned Distributed
    tables over Replicated ones, the views on every shard, the ledger in Keeper."""
    migrator = Migrator("http://default:@127.0.0.1:1/db", "tm", cluster="prod")
    shapes = []
    for statement in (s for m in discover() for s in migrator.statements(m)):
        head = re.match(r"CREATE (TABLE|MATERIALIZED VIEW) IF NOT EXISTS (\w+) ON CLUSTER prod ", statement)
        assert head, statement[:80]
        engine = re.search(r"ENGINE = (\w+)\((.*?)\)(?: PRIMARY KEY (\w+))?\s*(?:$|\n|PARTITION|ORDER)", statement)
        target = re.search(r" TO (\w+) AS", statement)
        shapes.append((head[2], engine[1] + "(" + engine[2] + ")" + (f" {engine[3]}" if engine[3] else "")
                       if engine else f"TO {target[1]}"))

    def replicated(engine: str, table: str) -> str:
        return f"Replicated{engine}('/clickhouse/tables/{{shard}}/tm/{table}_local', '{{replica}}')"

    def distributed(table: str, key: str = "kafka_partition") -> str:
        return f"Distributed(prod, tm, {table}_local, {key})"

    assert shapes == [
        ("trades_local", replicated("MergeTree", "trades")), ("trades", distributed("trades")),
        ("symbol_totals_local", replicated("SummingMergeTree", "symbol_totals")),
        ("symbol_totals", distributed("symbol_totals")),
        ("symbol_totals_mv", "TO symbol_totals_local"),
        ("candles_1m_local", replicated("SummingMergeTree", "candles_1m")),
        ("candles_1m", distributed("candles_1m", "cityHash64(symbol)")),  # read only: views fill each shard's
        ("candles_1m_mv", "TO candles_1m_local"),
        ("trade_sentiment_local", replicated("MergeTree", "trade_sentiment")),
        ("trade_sentiment", distributed("trade_sentiment")),
        ("symbol_sentiment_local", replicated("SummingMergeTree", "symbol_sentiment")),
        ("symbol_sentiment", distributed("symbol_sentiment")),
        ("symbol_sentiment_mv", "TO symbol_sentiment_local"),
        ("volume_alerts_local", replicated("ReplacingMergeTree", "volume_alerts")),
        ("volume_alerts", distributed("volume_alerts", "cityHash64(window_start)")),  # a window on one shard
        ("ingest_ledger", "KeeperMap('/trademonitor/tm/ingest_ledger') key"),
    ]


def _columns(ddl: str) -> list[str]:
    ddl = cluster._strip_comments(ddl)
    body = ddl[ddl.index("(") + 1: ddl.index("ENGINE")].rsplit(")", 1)[0]
    return [" ".join(line.split()).rstrip(",") for line in body.splitlines() if line.strip()]


def test_unknown_statement_forms_are_refused_for_clusters():
    for statement in ("ALTER TABLE trades ADD COLUMN x UInt8",
                      "CREATE TABLE IF NOT EXISTS t (k String) ENGINE = Memory",
                      "CREATE TABLE IF NOT EXISTS t (k String) ENGINE = EmbeddedRocksDB PRIMARY KEY (k, v)"):
        with pytest.raises(cluster.UnsupportedStatement):
            cluster.translate(statement, "prod", "tm")


# -- health endpoints ----------------------------------------------------------------------
@pytest.mark.django_db
def test_readyz_names_what_is_down(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.CLICKHOUSE_READONLY_URL = "http://reader:x@127.0.0.1:1/db"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert json.loads(response.content) == {"status": "unavailable", "failing": ["clickhouse", "redis"]}
    assert client.get("/healthz").status_code == 200


@pytest.mark.services
@pytest.mark.django_db
def test_readyz_is_ok_when_services_answer(client, services):
    response = client.get("/readyz")
    assert (response.status_code, json.loads(response.content)["failing"]) == (200, [])
