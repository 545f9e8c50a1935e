"""The SQL panel cannot be turned against the server: hostile SQL through /api/sql
(with a valid CSRF token, against the real endpoint enforcing users.xml), who may
use the panel, its own rate limit, its audit trail, and the ClickHouse users' rules
read from deploy/clickhouse/users.xml as clickhouse-server would read them."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client

from tests.conftest import PROJECT_DIR
from tests.deployment import kubernetes_environment, manage

USERS_XML = PROJECT_DIR / "deploy" / "clickhouse" / "users.xml"
TIME_LIMIT = 5  # the panel profile's max_execution_time

# (category, query, what the one-line refusal says)
HOSTILE = [
    ("table function file", "SELECT * FROM file('/etc/passwd', LineAsString)", "table function file()"),
    ("table function file, relative", "SELECT * FROM file('../../../../etc/passwd', LineAsString)",
     "table function file()"),
    ("function file", "SELECT file('/etc/passwd')", "function file()"),
    ("table function url", "SELECT * FROM url('http://127.0.0.1:9464/metrics', LineAsString)", "table function url()"),
    ("table function s3", "SELECT * FROM s3('http://127.0.0.1:9464/b/k', TSV, 'a String')", "table function s3()"),
    ("table function remote", "SELECT * FROM remote('127.0.0.1:9000', system.one)", "table function remote()"),
    ("table function remoteSecure", "SELECT * FROM remoteSecure('127.0.0.1:9440', system.one)",
     "table function remoteSecure()"),
    ("engine postgresql", "SELECT * FROM postgresql('127.0.0.1:5432', 'd', 't', 'u', 'p')",
     "table function postgresql()"),
    ("engine mysql", "SELECT * FROM mysql('127.0.0.1:3306', 'd', 't', 'u', 'p')", "table function mysql()"),
    ("engine mongodb", "SELECT * FROM mongodb('127.0.0.1:27017', 'd', 'c', 'u', 'p', 'x String')",
     "table function mongodb()"),
    ("executable", "SELECT * FROM executable('id', TSV, 'x String')", "table function executable()"),
    ("jdbc", "SELECT * FROM jdbc('datasource', 'schema', 'table')", "table function jdbc()"),
    ("odbc", "SELECT * FROM odbc('DSN=x', 'table')", "table function odbc()"),
    ("hdfs", "SELECT * FROM hdfs('hdfs://127.0.0.1:9000/x', TSV, 'a String')", "table function hdfs()"),
    ("cluster", "SELECT * FROM cluster('default', system.one)", "table function cluster()"),
    ("clusterAllReplicas", "SELECT * FROM clusterAllReplicas('default', system.one)",
     "table function clusterAllReplicas()"),
    ("merge over system", "SELECT * FROM merge('system', '^proc')", "table function merge()"),
    ("dictionary", "SELECT dictGet('d', 'x', toUInt64(1))", "function dictGet()"),
    ("system.databases", "SELECT name FROM system.databases", "SELECT ON system.databases"),
    ("system.tables", "SELECT * FROM system.tables", "SELECT ON system.tables"),
    ("system.processes", "SELECT query FROM system.processes", "SELECT ON system.processes"),
    ("system table in IN", "SELECT 1 WHERE 'x' IN system.processes", "SELECT ON system.processes"),
    ("system table in a view", "SELECT * FROM view(SELECT * FROM system.processes)", "SELECT ON system.processes"),
    ("INFORMATION_SCHEMA", "SELECT * FROM INFORMATION_SCHEMA.TABLES", "SELECT ON INFORMATION_SCHEMA.TABLES"),
    ("another database", "SELECT * FROM default.anything", "SELECT ON default.anything"),
    ("SETTINGS max_execution_time", "SELECT count() FROM numbers(100000000000) SETTINGS max_execution_time = 30",
     "Cannot modify 'max_execution_time' setting in readonly mode"),
    ("SETTINGS max_result_rows", "SELECT number FROM numbers(10) SETTINGS max_result_rows = 1000000",
     "Cannot modify 'max_result_rows' setting in readonly mode"),
    ("SETTINGS max_memory_usage", "SELECT 1 SETTINGS max_memory_usage = 100000000000",
     "Cannot modify 'max_memory_usage' setting in readonly mode"),
    ("SETTINGS readonly", "SELECT 1 SETTINGS readonly = 0", "Cannot modify 'readonly' setting in readonly mode"),
    ("SET", "SET max_execution_time = 30", "Cannot modify 'max_execution_time' setting in readonly mode"),
    ("USE", "USE system", "SELECT ON system.*"),
    ("temporary table", "CREATE TEMPORARY TABLE t (x UInt8)", "Cannot execute query in readonly mode"),
    ("INSERT", "INSERT INTO trades SELECT * FROM trades LIMIT 1", "Cannot execute query in readonly mode"),
    ("DROP", "DROP TABLE trades", "Cannot execute query in readonly mode"),
    ("multi-statement", "SELECT 1; SELECT 2", "Multi-statements are not allowed"),
    ("FORMAT override", "SELECT 1 FORMAT TSV", "leave out the FORMAT clause"),
    ("INTO OUTFILE", "SELECT 1 INTO OUTFILE '/tmp/trademonitor-panel-outfile'", "INTO OUTFILE is not allowed"),
    ("numbers past the time limit", "SELECT count() FROM numbers(100000000000)", "Timeout exceeded"),
    ("cross join past the time limit",
     "SELECT count() FROM numbers(1000000) AS a CROSS JOIN numbers(1000000) AS b", "Timeout exceeded"),
    ("past the row limit", "SELECT number FROM numbers(5000)", "Limit for result exceeded, max rows: 1.00 thousand"),
    ("comments hiding file", "/* harmless */ SELECT *\n\tFROM -- really\n file('/etc/passwd', LineAsString)",
     "table function file()"),
    ("odd case and spacing", "select * from FILE ( '/etc/passwd' , 'LineAsString' )", "table function FILE()"),
    ("quoted function name", "SELECT * FROM `file`('/etc/passwd', LineAsString)", "table function file()"),
    ("comment before a second statement", "SELECT 1 /* ; */; -- x\n SELECT 2", "Multi-statements are not allowed"),
]
ANSWERS: list[tuple[str, int, str, float]] = []


@pytest.fixture
def browser(settings, db):
    """A client with a CSRF token taken from the page, as a visitor's browser has."""
    settings.API_RATE_LIMIT = settings.SQL_PANEL_RATE_LIMIT = "100000/m"
    settings.SQL_PANEL = "public"
    cache.clear()
    client = Client(enforce_csrf_checks=True)
    assert client.get("/").status_code == 200
    return client


def run_sql(client: Client, sql: str, address: str = "127.0.0.1"):
    return client.post("/api/sql", json.dumps({"sql": sql}), content_type="application/json",
                       HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value, REMOTE_ADDR=address)


@pytest.fixture(scope="module", autouse=True)
def answers_table():
    """The suite's answers as a table (category, status, first line, seconds), for the
    closing note, when SQL_PANEL_ANSWERS names a file."""
    yield
    path = os.environ.get("SQL_PANEL_ANSWERS")
    if path and ANSWERS:
        lines = ["| category | answer | first line | seconds |", "|---|---|---|---|"]
        lines += [f"| {c} | {s} | {m.replace('|', '/')[:140]} | {t:.2f} |" for c, s, m, t in ANSWERS]
        with open(path, "w") as out:
            out.write("\n".join(lines) + "\n")


@pytest.mark.services
@pytest.mark.parametrize(("number", "case"), list(enumerate(HOSTILE)), ids=[case[0] for case in HOSTILE])
def test_hostile_sql_is_refused_in_time_and_the_panel_answers_next(browser, number, case):
    category, sql, says = case
    address = f"127.0.1.{number + 1}"  # a visitor of its own: ClickHouse's quota is per visitor

    started = time.monotonic()
    response = run_sql(browser, sql, address)
    seconds = time.monotonic() - started

    error = response.json().get("error", "")
    ANSWERS.append((category, response.status_code, error.splitlines()[0] if error else "", seconds))
    assert response.status_code == 400, response.content[:300]
    assert says in error and "\n" not in error, error
    assert seconds <= TIME_LIMIT + 1
    following = run_sql(browser, "SELECT 1 AS one", address)
    assert following.status_code == 200 and following.json()["rows"] == [[1]]


@pytest.mark.services
def test_the_panel_reads_the_project_database(browser):
    response = run_sql(browser, "SELECT count() AS trades FROM trades")
    assert response.status_code == 200
    assert response.json()["columns"] == ["trades"]


# -- who may use the panel -------------------------------------------------------------
def viewer(kind: str) -> Client:
    client = Client()
    if kind != "anonymous":
        user = User.objects.create_user(kind, password="a-long-test-password", is_staff=kind == "staff")
        client.force_login(user)
    return client


@pytest.mark.services
@pytest.mark.parametrize("policy", ["off", "staff", "public"])
@pytest.mark.parametrize("kind", ["anonymous", "logged-in", "staff"])
def test_the_panel_is_shown_and_answers_only_where_the_policy_allows(settings, db, policy, kind):
    settings.SQL_PANEL = policy
    settings.API_RATE_LIMIT = settings.SQL_PANEL_RATE_LIMIT = "1000/m"
    cache.clear()
    allowed = policy == "public" or (policy == "staff" and kind == "staff")
    client = viewer(kind)

    page = client.get("/")
    answer = client.post("/api/sql", json.dumps({"sql": "SELECT 1 AS one"}), content_type="application/json")

    assert page.status_code == 200
    assert ('id="sql-panel"' in page.content.decode()) == allowed
    if allowed:
        assert answer.status_code == 200 and answer.json()["rows"] == [[1]]
    else:
        assert answer.status_code == 403 and answer.json() == {"error": "the SQL panel is not open to you"}


def test_the_default_policy_is_public_only_in_development():
    unset = {name: value for name, value in kubernetes_environment().items() if name != "SQL_PANEL"}
    production = manage("shell", "-c", "from django.conf import settings; print(settings.SQL_PANEL)",
                        environment=unset)
    development = manage("shell", "-c", "from django.conf import settings; print(settings.SQL_PANEL)",
                         environment={"DJANGO_DEBUG": "1"})
    assert production.stdout.split()[-1:] == ["staff"], production.stderr
    assert development.stdout.split()[-1:] == ["public"], development.stderr


@pytest.mark.services
def test_the_panel_has_a_rate_limit_of_its_own(settings, db):
    settings.SQL_PANEL, settings.API_RATE_LIMIT, settings.SQL_PANEL_RATE_LIMIT = "public", "1000/m", "3/m"
    cache.clear()
    client = Client()

    statuses = [client.post("/api/sql", json.dumps({"sql": "SELECT 1"}), content_type="application/json",
                            REMOTE_ADDR=address).status_code
                for address in ["127.0.2.1"] * 4 + ["127.0.2.2"]]

    assert statuses == [200, 200, 200, 429, 200]  # per address: another visitor is not held up


@pytest.mark.services
def test_every_panel_query_is_audited(browser):
    from trademonitor.models import SqlPanelQuery

    run_sql(browser, "SELECT number FROM numbers(3)", "127.0.3.1")
    run_sql(browser, "SELECT * FROM file('/etc/passwd', LineAsString)", "127.0.3.1")

    ok, refused = SqlPanelQuery.objects.order_by("at")
    assert (ok.outcome, ok.rows, ok.address, ok.user, ok.sql) == ("ok", 3, "127.0.3.1", None,
                                                                  "SELECT number FROM numbers(3)")
    assert refused.outcome == "refused" and "table function file()" in refused.message
    assert ok.duration_ms > 0 and refused.rows is None


# -- the endpoint enforces users.xml: quota, concurrency, the web read user's grants -----
def panel_request(sql: str, quota_key: str) -> tuple[int, str]:
    url = urlsplit(django_settings.CLICKHOUSE_PANEL_URL)
    request = urllib.request.Request(
        f"http://{url.hostname}:{url.port}/?quota_key={quota_key}&database=trademonitor", data=sql.encode(),
        headers={"X-ClickHouse-User": url.username, "X-ClickHouse-Key": url.password})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers.get("X-ClickHouse-Exception-Code") or ""
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("X-ClickHouse-Exception-Code") or ""


@pytest.mark.services
def test_the_panel_quota_counts_each_visitor_apart():
    key = f"quota-test-{time.time_ns()}"
    while time.time() % 60 > 50:  # the quota's interval is the clock's minute: start well inside one
        time.sleep(0.5)

    answers = [panel_request("SELECT 1", key) for _ in range(61)]  # a minute's quota is 60 queries

    assert answers == [(200, "")] * 60 + [(500, "201")]
    assert panel_request("SELECT 1", key + "-other") == (200, "")


@pytest.mark.services
def test_the_panel_user_runs_two_queries_at_once_at_most():
    key = f"concurrency-test-{time.time_ns()}"
    answers: list[tuple[int, str]] = []
    slow = "SELECT sleepEachRow(1) FROM numbers(3)"  # 3 s each
    threads = [threading.Thread(target=lambda: answers.append(panel_request(slow, key))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(answers) == [(200, ""), (200, ""), (500, "202")], answers


@pytest.mark.services
def test_the_web_read_user_reads_its_database_and_no_outside_source(scratch_database):
    import clickhouse_connect
    from clickhouse_connect.driver.exceptions import DatabaseError

    from clickhouse.connection import client_settings

    reader = clickhouse_connect.get_client(**client_settings(django_settings.CLICKHOUSE_READONLY_URL,
                                                             database=scratch_database))
    assert reader.command("SELECT count() FROM numbers(10)") == 10
    for query in ("SELECT * FROM url('http://127.0.0.1:9464/metrics', LineAsString)",
                  "SELECT * FROM file('/etc/passwd', LineAsString)", "SELECT * FROM remote('127.0.0.1', system.one)",
                  "SELECT * FROM s3('http://127.0.0.1:9/b/k', TSV, 'a String')", "SELECT count() FROM system.processes",
                  "SELECT count() FROM default.anything"):
        with pytest.raises(DatabaseError) as refused:
            reader.command(query)
        assert refused.value.code == 497, (query, str(refused.value)[:200])


# -- the same rules, read from users.xml as clickhouse-server reads them ----------------
def users_xml() -> ET.Element:
    return ET.parse(USERS_XML).getroot()


@pytest.mark.parametrize("user", ["trademonitor_ro", "trademonitor_panel"])
def test_read_users_are_readonly_constant_and_granted_select_on_the_project_database_only(user):
    root = users_xml()
    element = root.find(f"users/{user}")
    profile = root.find(f"profiles/{element.findtext('profile')}")

    assert element.find("password").get("from_env")  # never a literal password
    assert profile.findtext("readonly") == "1"  # no table functions, no settings from the query or the URL
    assert profile.find("constraints/readonly/const") is not None
    assert [q.text for q in element.iterfind("grants/query")] == ["GRANT SELECT ON trademonitor*.*"]
    for limit in ("max_execution_time", "max_result_rows", "max_result_bytes", "max_memory_usage", "max_threads"):
        assert profile.findtext(limit), limit
        assert profile.find(f"constraints/{limit}/const") is not None, limit


def test_the_panel_profile_limits_and_quota():
    root = users_xml()
    profile = root.find("profiles/sql_panel")
    assert {name: profile.findtext(name) for name in (
        "max_execution_time", "max_result_rows", "max_result_bytes", "result_overflow_mode",
        "max_concurrent_queries_for_user")} == {
        "max_execution_time": "5", "max_result_rows": "1000", "max_result_bytes": "10000000",
        "result_overflow_mode": "throw", "max_concurrent_queries_for_user": "2"}
    quota = root.find(f"quotas/{root.findtext('users/trademonitor_panel/quota')}")
    assert quota.find("keyed") is not None  # per visitor (the quota key the web app sends)
    assert quota.findtext("interval/queries") == "60" and int(quota.findtext("interval/result_rows")) > 0


def test_system_and_information_schema_need_grants_on_the_server():
    access = ET.parse(PROJECT_DIR / "deploy" / "clickhouse" / "access.xml").getroot()
    assert access.findtext("access_control_improvements/select_from_system_db_requires_grant") == "true"
    assert access.findtext("access_control_improvements/select_from_information_schema_requires_grant") == "true"


def test_kubernetes_carries_the_same_clickhouse_files():
    for deployed, copy in (("users.xml", "clickhouse-users.xml"), ("access.xml", "clickhouse-access.xml")):
        assert (PROJECT_DIR / "k8s" / "base" / copy).read_text() == \
            (PROJECT_DIR / "deploy" / "clickhouse" / deployed).read_text()


def test_the_endpoint_reads_the_same_file():
    from devservices.chendpoint.access import PROJECT_USERS_XML, load_users

    users = {user.name: user for user in load_users(PROJECT_USERS_XML, {
        "CHENDPOINT_USERS": "", "CLICKHOUSE_PANEL_PASSWORD": "p", "CLICKHOUSE_READONLY_PASSWORD": "r"})}
    assert PROJECT_USERS_XML == USERS_XML
    assert set(users) == {"trademonitor_ro", "trademonitor_panel"}  # the writer's password is not set here
    panel = users["trademonitor_panel"]
    assert (panel.readonly, panel.databases, panel.max_concurrent, panel.quota.limits["queries"], panel.quota.keyed) \
        == (1, ("trademonitor*",), 2, 60, True)


@pytest.mark.parametrize("profile", [
    # The server lets a readonly = 1 session set this one; chdb cannot (access.py says why).
    "<readonly>1</readonly><max_threads>4</max_threads>"
    "<constraints><max_threads><min>1</min><max>4</max><changeable_in_readonly/></max_threads></constraints>",
    # A profile that may change its settings: the server holds max_threads to its bounds.
    "<readonly>2</readonly><constraints><max_threads><max>4</max></max_threads></constraints>",
])
def test_the_endpoint_refuses_constraints_it_cannot_enforce(tmp_path, profile):
    from devservices.chendpoint.access import load_users

    users_file = tmp_path / "users.xml"
    users_file.write_text(f"<clickhouse><profiles><web>{profile}</web></profiles><users><reader>"
                          "<password from_env='READER_PASSWORD'/><profile>web</profile></reader></users></clickhouse>")
    with pytest.raises(ValueError, match="cannot enforce profile web's constraint on max_threads"):
        load_users(users_file, {"READER_PASSWORD": "r"})
    # The same profile with the constraint const is one the endpoint enforces.
    users_file.write_text(users_file.read_text().replace("<readonly>2</readonly>", "<readonly>1</readonly>")
                          .replace("<min>1</min><max>4</max><changeable_in_readonly/>", "<const/>")
                          .replace("<max>4</max>", "<const/>"))
    [reader] = [user for user in load_users(users_file, {"READER_PASSWORD": "r"}) if user.name == "reader"]
    assert reader.readonly == 1
