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
from tests.deployment import K8S, containers, generated, pod_security_violations, render

KUBERNETES_VERSION = "1.33.0"
DEV_ONLY_VARIABLES = {"DEVSERVICES_DIR"}  # where the embedded dev services live; unused in containers
SECRET_VARIABLES = {"DJANGO_SECRET_KEY"}  # the passwords are read beside the URLs (settings.with_password)
PASSWORDS = {"POSTGRES_PASSWORD", "CLICKHOUSE_WRITER_PASSWORD", "CLICKHOUSE_READONLY_PASSWORD",
             "CLICKHOUSE_PANEL_PASSWORD", "REDIS_PASSWORD"}
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
OVERLAYS = ["keda", "hpa", "cluster"]


@pytest.mark.parametrize("overlay", OVERLAYS)
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
        assert env["CLICKHOUSE_CLUSTER_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == "trademonitor-clickhouse"
        mounted = {v["configMap"]["name"] for v in shard_sets[name]["spec"]["template"]["spec"]["volumes"]
                   if "configMap" in v}
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
    [migrate] = [d for d in documents if d["kind"] == "Job" and d["metadata"]["name"].startswith("migrate-")]
    [container] = containers(migrate)
    assert "chmigrate" in container["command"][-1]
    assert {"configMapRef": {"name": generated(documents, "ConfigMap", "trademonitor-config")["metadata"]["name"]}} \
        in container["envFrom"]


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
    assert not (SECRET_VARIABLES | PASSWORDS) & set(config["data"]), "secrets belong in Secrets, not the ConfigMap"
    assert not any(re.search(r"://[^/@]*:[^/@]*@", value) for value in config["data"].values()), "a password in a URL"
    compose_env = next(iter(app_services().values()))["environment"]
    for variable in wanted - SECRET_VARIABLES - PLATFORM_VARIABLES:
        assert str(compose_env[variable]) == config["data"][variable], variable


def test_dockerfile_is_multistage_pinned_by_digest_non_root_with_root_owned_code():
    dockerfile = (PROJECT_DIR / "Dockerfile").read_text()
    [image] = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", dockerfile, re.M)
    assert re.fullmatch(r"python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}", image)
    assert re.findall(r"^FROM (\S+)", dockerfile, re.M) == ["${PYTHON_IMAGE}"] * 3  # build, assets, runtime
    assert re.search(r"^USER app$", dockerfile, re.M) and "HEALTHCHECK" in dockerfile
    assert "--chown" not in dockerfile  # the app user reads its code and cannot change it
    assert "chdb" not in (PROJECT_DIR / "requirements.txt").read_text()  # the dev endpoint stays out of images
    ignored = set((PROJECT_DIR / ".dockerignore").read_text().split())
    assert {".venv", ".env", ".git", "tests", "docs", "benchmarks", "devservices"} <= ignored


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


# -- a deployment that keeps its data and exposes nothing ----------------------------------
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_meets_pod_security_restricted_by_kubernetes_own_checks(overlay):
    status, violations, summary = pod_security_violations(K8S / "overlays" / overlay)
    assert status == 0, violations
    assert int(summary.split()[0]) >= 9  # every workload was seen: web, workers, producer, jobs, data


def test_the_namespace_enforces_restricted_and_no_pod_gets_a_token():
    documents = render(K8S / "overlays" / "hpa")
    [namespace] = [d for d in documents if d["kind"] == "Namespace"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for document in documents:
        spec = pod_spec(document)
        if spec is not None:
            assert spec["automountServiceAccountToken"] is False, document["metadata"]["name"]
            for container in spec["containers"] + spec.get("initContainers", []):
                assert container["securityContext"]["readOnlyRootFilesystem"] is True, container["name"]


# (client, server, port): exactly the edges the system needs (k8s/base/networkpolicies.yaml)
EDGES = {
    ("ingress-nginx", "web", 8000),
    ("web", "clickhouse", 8123), ("web", "redis", 6379), ("web", "postgres", 5432),
    ("workers", "kafka", 9092), ("workers", "clickhouse", 8123), ("workers", "redis", 6379),
    ("workers", "postgres", 5432),
    ("producer", "kafka", 9092), ("producer", "postgres", 5432),
    ("migrate", "clickhouse", 8123), ("migrate", "postgres", 5432),
    ("kafka-topics", "kafka", 9092),
    ("keda", "kafka", 9092),
}
CLUSTER_EDGES = {("clickhouse", "clickhouse", 9000), ("clickhouse", "clickhouse", 9009),
                 ("clickhouse", "keeper", 9181), ("keeper", "keeper", 9234)}
PORTS = {8000, 8123, 6379, 5432, 9092, 9093, 9000, 9009, 9181, 9234, 9464}


@pytest.mark.parametrize(("overlay", "expected"), [("hpa", EDGES), ("cluster", EDGES | CLUSTER_EDGES)])
def test_network_policies_allow_exactly_the_edges_the_system_needs(overlay, expected):
    documents = render(K8S / "overlays" / overlay)
    policies = [d for d in documents if d["kind"] == "NetworkPolicy"]
    apps = {d["spec"]["template"]["metadata"]["labels"]["app"] for d in documents if pod_spec(d) is not None}
    endpoints = {("pod", app) for app in apps} | {("namespace", "ingress-nginx"), ("namespace", "keda")}
    assert any(p["spec"]["podSelector"] == {} and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
               and not p["spec"].get("ingress") and not p["spec"].get("egress") for p in policies)  # default deny

    def allowed(client, server, port) -> bool:
        out = client[0] == "namespace" or _allows(policies, "egress", client[1], server, port)
        return out and _allows(policies, "ingress", server[1], client, port)

    edges = {(client[1], server[1], port) for client in endpoints for server in endpoints if server[0] == "pod"
             for port in PORTS if allowed(client, server, port)}
    assert edges == expected
    for app in apps:  # and every pod may resolve names
        assert _allows(policies, "egress", app, ("namespace", "kube-system"), 53)


def _allows(policies: list[dict], direction: str, app: str, peer: tuple[str, str], port: int) -> bool:
    key = "to" if direction == "egress" else "from"
    for policy in policies:
        selector = policy["spec"]["podSelector"].get("matchLabels", {})
        if selector and selector.get("app") != app:
            continue
        for rule in policy["spec"].get(direction, []):
            if not any(p["port"] == port for p in rule.get("ports", [])):
                continue
            for other in rule.get(key, []):
                namespace = other.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
                pod = other.get("podSelector", {}).get("matchLabels", {}).get("app")
                if peer[0] == "namespace" and namespace == peer[1]:
                    return True
                if peer[0] == "pod" and namespace is None and pod == peer[1]:
                    return True
    return False


def pod_spec(document: dict) -> dict | None:
    spec = document.get("spec", {})
    template = spec.get("jobTemplate", {}).get("spec", spec).get("template")
    return template["spec"] if template else None


def test_probes_name_the_site_and_the_public_ingress_routes_no_admin_or_metrics():
    documents = render(K8S / "overlays" / "hpa")
    host = generated(documents, "ConfigMap", "trademonitor-config")["data"]["DJANGO_ALLOWED_HOSTS"]
    [web] = [d for d in documents if d["kind"] == "Deployment" and d["metadata"]["name"] == "web"]
    [container] = containers(web)
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["httpHeaders"] == [{"name": "Host", "value": host}]
        assert container[probe]["timeoutSeconds"] >= 5  # /readyz waits up to 2-3 s on a service
    assert "--proxy-headers" in container["command"]
    [ingress] = [d for d in documents if d["kind"] == "Ingress"]
    assert ingress["spec"]["ingressClassName"] and ingress["spec"]["tls"][0]["hosts"] == [host]
    assert int(ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    paths = {(p["path"], p["pathType"]) for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]}
    assert ("/", "Exact") in paths and ("/ws/", "Prefix") in paths and ("/api/", "Prefix") in paths
    for path, kind in paths:
        assert not path.startswith(("/metrics", "/healthz", "/readyz")), path
        assert not path.startswith("/admin") or (kind == "Exact" and path in {"/admin/login/", "/admin/logout/"})


@pytest.mark.django_db
def test_probes_answer_a_pod_address_under_production_settings(client, settings):
    settings.DEBUG, settings.ALLOWED_HOSTS = False, ["trademonitor.example.com"]
    assert client.get("/healthz", HTTP_HOST="10.1.2.3:8000").status_code == 200
    assert client.get("/metrics", HTTP_HOST="web:8000").status_code == 200
    assert client.get("/api/symbols", HTTP_HOST="10.1.2.3:8000").status_code == 400  # the host check stands
    assert client.post("/healthz", HTTP_HOST="10.1.2.3:8000").status_code == 400


@pytest.mark.services
@pytest.mark.django_db
def test_readyz_answers_a_pod_address_under_production_settings(client, settings, services):
    settings.DEBUG, settings.ALLOWED_HOSTS = False, ["trademonitor.example.com"]
    assert client.get("/readyz", HTTP_HOST="10.1.2.3:8000").status_code == 200


def test_kafka_keeps_its_logs_on_the_volume_with_retention_and_compression():
    [kafka] = [d for d in render(K8S / "overlays" / "hpa") if d["kind"] == "StatefulSet"
               and d["metadata"]["name"] == "kafka"]
    [container] = containers(kafka)
    env = {variable["name"]: variable.get("value") for variable in container["env"]}
    [data] = [mount["mountPath"] for mount in container["volumeMounts"] if mount["name"] == "data"]
    compose_kafka = compose()["services"]["kafka"]
    [compose_data] = [v.split(":")[1] for v in compose_kafka["volumes"] if v.startswith("kafka-data:")]
    for log_dirs, volume, settings_of in ((env["KAFKA_LOG_DIRS"], data, env),
                                          (compose_kafka["environment"]["KAFKA_LOG_DIRS"], compose_data,
                                           compose_kafka["environment"])):
        assert log_dirs.startswith(volume.rstrip("/") + "/")
        assert settings_of["CLUSTER_ID"] and int(settings_of["KAFKA_LOG_RETENTION_HOURS"]) > 0
        assert int(settings_of["KAFKA_LOG_RETENTION_BYTES"]) > 0
    # The volume holds every partition at its retention: trades, trades.dlq (3 each), alerts (1).
    size = int(kafka["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"].rstrip("Gi")) << 30
    assert 7 * (int(env["KAFKA_LOG_RETENTION_BYTES"]) + int(env["KAFKA_LOG_SEGMENT_BYTES"])) < size
    assert kafka["spec"]["template"]["spec"]["securityContext"]["fsGroup"] == 1000  # apache/kafka's appuser
    from infra.kafka import idempotent_producer_config

    assert idempotent_producer_config()["compression.type"] == "lz4"


def test_clickhouse_default_user_is_reachable_from_the_server_itself_only():
    root = ElementTree.parse(PROJECT_DIR / "deploy" / "clickhouse" / "users.xml").getroot()
    default = root.find("users/default/networks")
    assert default.get("replace") == "replace"  # not merged with the image's ::/0
    assert sorted(ip.text for ip in default.iter("ip")) == ["127.0.0.1", "::1"]
    for user in root.find("users"):
        assert "::/0" not in [ip.text for ip in user.iter("ip")], user.tag


def test_keda_scales_every_worker_group_within_the_partitions():
    from django.conf import settings as django_settings

    from workers import jobs

    documents = render(K8S / "overlays" / "keda")
    [scaled] = [d for d in documents if d["kind"] == "ScaledObject"]
    [workers] = [d for d in documents if d["kind"] == "Deployment" and d["metadata"]["name"] == "workers"]
    command = containers(workers)[0]["command"]
    processes = int(command[command.index("--processes") + 1])
    job_names = [command[i + 1] for i, arg in enumerate(command) if arg == "--job"]
    partitions = int(generated(documents, "ConfigMap", "trademonitor-config")["data"]["KAFKA_TOPIC_PARTITIONS"])
    assert scaled["spec"]["maxReplicaCount"] * processes <= partitions
    assert "replicas" not in workers["spec"]  # the autoscaler's to set
    base_group = runworkers_default_group()
    scaling = {jobs.consumer_group(base_group, name) for name in job_names
               if jobs.load(name, "trades")[1].max_processes is None}  # alerts elects one emitter
    triggers = scaled["spec"]["triggers"]
    assert {t["metadata"]["consumerGroup"] for t in triggers} == scaling == {"trade-monitor", "trade-monitor.sentiment"}
    for trigger in triggers:
        assert trigger["metadata"]["offsetResetPolicy"] == "earliest"
        assert trigger["metadata"]["bootstrapServers"].endswith(".svc.cluster.local:9092")
        assert trigger["metadata"]["topic"] == django_settings.KAFKA_TOPIC
    [hpa] = [d for d in render(K8S / "overlays" / "hpa") if d["kind"] == "HorizontalPodAutoscaler"]
    assert hpa["spec"]["maxReplicas"] * processes <= partitions


def runworkers_default_group() -> str:
    from workers.management.commands.runworkers import Command

    parser = Command().create_parser("manage.py", "runworkers")
    return parser.parse_args([]).group


def test_grace_periods_exceed_the_workers_drain_deadline():
    from django.conf import settings as django_settings

    documents = render(K8S / "overlays" / "hpa")
    [workers] = [d for d in documents if d["kind"] == "Deployment" and d["metadata"]["name"] == "workers"]
    configured = generated(documents, "ConfigMap", "trademonitor-config")["data"]["WORKERS_DRAIN_SECONDS"]
    compose_workers = compose()["services"]["workers"]
    # The supervisor kills what has not drained 5 s after the drain deadline.
    for drain, grace in ((configured, workers["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]),
                         (compose_workers["environment"]["WORKERS_DRAIN_SECONDS"],
                          int(compose_workers["stop_grace_period"].rstrip("s")))):
        assert float(drain) + 5 < grace
    assert float(configured) == django_settings.WORKERS_DRAIN_SECONDS  # the deployments keep the default


def test_each_pod_gets_only_the_secrets_it_uses():
    documents = render(K8S / "overlays" / "hpa")
    wanted = {
        "web": {"DJANGO_SECRET_KEY", "POSTGRES_PASSWORD", "CLICKHOUSE_READONLY_PASSWORD", "CLICKHOUSE_PANEL_PASSWORD",
                "REDIS_PASSWORD"},
        "workers": {"DJANGO_SECRET_KEY", "POSTGRES_PASSWORD", "CLICKHOUSE_WRITER_PASSWORD", "REDIS_PASSWORD"},
        "producer": {"DJANGO_SECRET_KEY", "POSTGRES_PASSWORD"},
        "migrate": {"DJANGO_SECRET_KEY", "POSTGRES_PASSWORD", "CLICKHOUSE_WRITER_PASSWORD"},
    }
    for document in documents:
        spec = pod_spec(document)
        if spec is None:
            continue
        for container in spec["containers"] + spec.get("initContainers", []):
            assert all("secretRef" not in source for source in container.get("envFrom", [])), container["name"]
            secret = {v["name"] for v in container.get("env", []) if "secretKeyRef" in v.get("valueFrom", {})}
            app = document["spec"]["template"]["metadata"]["labels"]["app"]
            if app in wanted:
                assert secret == wanted[app], (app, container["name"])


def test_release_jobs_are_named_for_the_release_and_pods_wait_for_the_schema():
    documents = render(K8S / "overlays" / "hpa")
    kustomization = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())
    [image] = [i for i in kustomization["images"] if i["name"] == "trademonitor"]
    jobs = [d for d in documents if d["kind"] == "Job"]
    assert {d["metadata"]["name"] for d in jobs} == {f"{name}-{image['newTag'].replace('.', '-')}"
                                                      for name in ("migrate", "kafka-topics")}
    assert all(job["spec"]["ttlSecondsAfterFinished"] > 0 for job in jobs)
    for name in ("web", "workers"):
        [deployment] = [d for d in documents if d["kind"] == "Deployment" and d["metadata"]["name"] == name]
        [wait] = deployment["spec"]["template"]["spec"]["initContainers"]
        assert "chmigrate --check" in wait["command"][-1] and "migrate --check" in wait["command"][-1]


def test_compose_publishes_tools_on_this_machine_only_and_checks_the_producer():
    services = compose()["services"]
    for name in ("kafdrop", "prometheus", "grafana"):
        assert all(port.startswith("127.0.0.1:") for port in services[name]["ports"]), name
    assert services["grafana"]["environment"]["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert "GRAFANA_ADMIN_PASSWORD" in services["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
    assert "alive" in " ".join(services["producer"]["healthcheck"]["test"])
    assert services["web"]["environment"]["DJANGO_HSTS_PRELOAD"] == "0"
    assert "CLICKHOUSE_WRITER_PASSWORD" not in services["web"]["environment"]
    assert "CLICKHOUSE_READONLY_PASSWORD" not in services["workers"]["environment"]


def test_the_readme_says_what_a_production_cluster_must_add():
    text = (PROJECT_DIR / "README.md").read_text()
    section = text[text.index("## Running on Kubernetes"):text.index("## Scaling out")]
    for needed in ("Strimzi", "Altinity", "CloudNativePG", "cert-manager", "External Secrets", "NetworkPolicies"):
        assert needed in section, needed


def test_a_password_variable_completes_its_url(monkeypatch):
    from trademonitor.settings import with_password

    monkeypatch.setenv("SOME_PASSWORD", "p@ss/:word")
    assert with_password("http://writer@clickhouse:8123/db", "SOME_PASSWORD") == \
        "http://writer:p%40ss%2F%3Aword@clickhouse:8123/db"
    assert with_password("redis://redis:6379/0", "SOME_PASSWORD") == "redis://:p%40ss%2F%3Aword@redis:6379/0"
    assert with_password("http://writer:old@clickhouse:8123/db", "SOME_PASSWORD").startswith("http://writer:p%40ss")
    monkeypatch.delenv("SOME_PASSWORD")
    assert with_password("http://writer@clickhouse:8123/db", "SOME_PASSWORD") == "http://writer@clickhouse:8123/db"


@pytest.mark.services
def test_chmigrate_check_fails_until_the_schema_is_applied(scratch_database):
    from django.core.management import CommandError, call_command

    for reader in ([], ["--reader"]):
        with pytest.raises(CommandError, match="not applied: 0001_trades"):
            call_command("chmigrate", "--check", "--database", scratch_database, *reader)
    call_command("chmigrate", "--database", scratch_database)
    for reader in ([], ["--reader"]):
        call_command("chmigrate", "--check", "--database", scratch_database, *reader)  # no error: up to date
