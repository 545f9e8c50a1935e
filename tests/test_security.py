"""Security settings and access rules: production settings pass `check --deploy`,
development credentials are refused in production, the dashboard can require a
login, the API is rate-limited, WebSockets check their Origin, admin needs staff,
and no secret is in the repository."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client

from tests.conftest import PROJECT_DIR
from tests.deployment import kubernetes_environment, manage


def test_check_deploy_is_clean_with_the_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", environment=kubernetes_environment())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("variable", ["DJANGO_SECRET_KEY", "CLICKHOUSE_URL", "CLICKHOUSE_READONLY_URL",
                                      "CLICKHOUSE_PANEL_URL"])
def test_development_credentials_are_refused_in_production(variable):
    environment = {name: value for name, value in kubernetes_environment().items() if name != variable}
    result = manage("check", environment=environment)
    assert result.returncode != 0
    assert f"DJANGO_DEBUG=0 needs real values for {variable}" in result.stderr


@pytest.mark.services
@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "status"), [
    ("get", "/", 200), ("get", "/admin/login/", 200), ("get", "/api/symbols", 200),
    ("get", "/api/symbols/NOSUCH/trades", 404), ("get", "/api/symbols/NOSUCH/candles", 404),
    ("post", "/api/sql", 200), ("get", "/api/sql", 405), ("get", "/no/such/page", 404),
])
def test_every_html_and_api_response_carries_the_security_headers(client, settings, method, path, status):
    settings.SQL_PANEL = "public"
    response = getattr(client, method)(path, json.dumps({"sql": "SELECT 1"}) if method == "post" else None,
                                       content_type="application/json")
    assert response.status_code == status
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


@pytest.mark.django_db
def test_admin_login_is_throttled_per_user_and_address(client, settings):
    from axes.models import AccessAttempt

    User.objects.create_user("operator", password="the-right-password", is_staff=True)

    def log_in(password: str, address: str):
        return client.post("/admin/login/?next=/admin/", {"username": "operator", "password": password},
                           REMOTE_ADDR=address)

    wrong = [log_in(f"wrong-{n}", "203.0.113.9").status_code for n in range(settings.AXES_FAILURE_LIMIT)]
    locked = log_in("the-right-password", "203.0.113.9")  # refused without being checked

    # The login form again, with its error, then the lockout from the limit on.
    assert wrong == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429]
    assert locked.status_code == 429 and "too many" in locked.content.decode().lower()
    assert "_auth_user_id" not in client.session
    assert AccessAttempt.objects.filter(username="operator", ip_address="203.0.113.9").exists()  # in admin: Axes
    assert log_in("the-right-password", "203.0.113.10").status_code == 302  # another address logs in


@pytest.mark.django_db
def test_the_api_is_rate_limited_per_client(client, settings):
    settings.API_RATE_LIMIT = "5/m"
    cache.clear()
    statuses = [client.get("/api/symbols/NOSUCH/trades", REMOTE_ADDR="203.0.113.7").status_code for _ in range(7)]
    assert statuses == [404] * 5 + [429, 429]
    assert client.get("/api/symbols/NOSUCH/trades", REMOTE_ADDR="203.0.113.8").status_code == 404  # another client
    limited = client.get("/api/symbols/NOSUCH/trades", REMOTE_ADDR="203.0.113.7")
    assert limited.json() == {"error": "too many requests; slow down"} and limited.headers["Retry-After"] == "60"


@pytest.mark.django_db
def test_the_api_answers_its_failures_in_json_and_the_pages_in_html(settings, monkeypatch, caplog):
    settings.SQL_PANEL = "public"
    web = Client(enforce_csrf_checks=True, raise_request_exception=False)
    web.get("/")  # the page sets the CSRF cookie; the POST below leaves out its header

    no_token = web.post("/api/sql", json.dumps({"sql": "SELECT 1"}), content_type="application/json")
    assert no_token.status_code == 403
    assert no_token.json() == {"error": "CSRF check failed: CSRF token missing. Reload the page and try again"}
    assert web.get("/api/no/such/path").json() == {"error": "not found: /api/no/such/path"}
    foreign_host = web.get("/api/symbols", HTTP_HOST="attacker.example")  # not in ALLOWED_HOSTS
    assert foreign_host.status_code == 400 and foreign_host.json() == {"error": "bad request"}

    from trademonitor import dashboard

    def broken(now: float) -> bytes:
        raise RuntimeError("a bug, with internals the client must not see")

    monkeypatch.setattr(dashboard, "snapshot_frame", broken)
    failed = web.get("/api/symbols")
    assert failed.status_code == 500 and failed.json() == {"error": "internal error; it has been logged"}
    assert "a bug, with internals" in caplog.text

    page = web.get("/no/such/page")  # outside the API, Django's pages as before
    assert page.status_code == 404 and page.headers["Content-Type"].startswith("text/html")
    admin_post = web.post("/admin/login/", {"username": "x", "password": "y"})
    assert admin_post.status_code == 403 and b"CSRF" in admin_post.content
    assert admin_post.headers["Content-Type"].startswith("text/html")


@pytest.mark.django_db
def test_login_can_be_required_for_the_page_the_api_and_the_socket(client, settings):
    settings.DASHBOARD_LOGIN_REQUIRED = True
    page = client.get("/")
    assert page.status_code == 302 and page.headers["Location"].startswith("/admin/login/")
    assert client.get("/api/symbols").status_code == 401

    User.objects.create_user("viewer", password="a-long-test-password")
    client.force_login(User.objects.get(username="viewer"))
    assert client.get("/").status_code == 200


@pytest.mark.django_db(transaction=True)
async def test_a_socket_without_login_is_closed_when_login_is_required(settings):
    from trademonitor.asgi import application

    settings.DASHBOARD_LOGIN_REQUIRED = True
    communicator = WebsocketCommunicator(application, "/ws/live", headers=[(b"origin", b"http://127.0.0.1"),
                                                                           (b"host", b"127.0.0.1")])
    connected, code = await communicator.connect()
    assert (connected, code) == (False, 4401)


@pytest.mark.django_db(transaction=True)
async def test_a_socket_with_a_login_is_let_in_when_login_is_required(settings):
    from trademonitor.asgi import application

    settings.DASHBOARD_LOGIN_REQUIRED = True

    def session_of_a_logged_in_viewer() -> str:
        client = Client()
        client.force_login(User.objects.create_user("viewer", password="a-long-test-password"))
        return client.cookies[settings.SESSION_COOKIE_NAME].value

    session = await sync_to_async(session_of_a_logged_in_viewer)()
    cookie = f"{settings.SESSION_COOKIE_NAME}={session}".encode()
    communicator = WebsocketCommunicator(application, "/ws/live", headers=[(b"origin", b"http://127.0.0.1"),
                                                                           (b"host", b"127.0.0.1"),
                                                                           (b"cookie", cookie)])
    connected, _subprotocol = await communicator.connect()
    assert connected is True
    await communicator.disconnect()


async def test_a_socket_from_another_origin_is_refused():
    from trademonitor.asgi import application

    communicator = WebsocketCommunicator(application, "/ws/live", headers=[(b"origin", b"https://evil.example"),
                                                                           (b"host", b"127.0.0.1")])
    connected, _code = await communicator.connect()
    assert connected is False


@pytest.mark.django_db
def test_admin_needs_staff(client):
    assert client.get("/admin/").status_code == 302
    User.objects.create_user("plain", password="a-long-test-password")
    client.force_login(User.objects.get(username="plain"))
    assert client.get("/admin/").status_code == 302  # logged in, not staff: back to the login page
    User.objects.create_user("operator", password="a-long-test-password", is_staff=True)
    client.force_login(User.objects.get(username="operator"))
    assert client.get("/admin/").status_code == 200


SECRET_PATTERNS = {
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36}\b"),
}
# In deployment files a credential in a URL must come from the environment (${...}).
DEPLOYMENT_FILES = ("docker-compose.yml", "k8s/", "deploy/")
LITERAL_URL_PASSWORD = re.compile(r"://[\w.-]+:(?!\$\{)[^@\s/'\"]+@")


def test_no_secret_is_committed():
    files = subprocess.run(["git", "ls-files"], cwd=PROJECT_DIR, capture_output=True, text=True, check=True).stdout
    found = []
    for name in files.split():
        path = PROJECT_DIR / name
        if path.suffix in {".png", ".sqlite3"} or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        found += [f"{name}: {kind}" for kind, pattern in SECRET_PATTERNS.items() if pattern.search(text)]
        if name.startswith(DEPLOYMENT_FILES):
            found += [f"{name}: password in a URL" for _ in LITERAL_URL_PASSWORD.finditer(text)]
            if name.startswith("k8s/") and re.search(r"^kind:\s*Secret\b", text, re.M):
                found.append(f"{name}: a Secret with its values")
    assert found == []
    assert ".env" not in files.split()
    ignored = (PROJECT_DIR / ".dockerignore").read_text().split()
    assert {".env", "db.sqlite3", ".devservices"} <= set(ignored)  # nothing local goes into an image


@pytest.mark.services
@pytest.mark.django_db
@pytest.mark.parametrize("sql, refusal", [
    ("SELECT number FROM numbers(100000)", "Code: 396."),  # 100,000 rows, 1,000 allowed: ClickHouse's TOO_MANY_ROWS
    ("SELECT repeat('x', 100000) AS big FROM numbers(1000)", "Result larger than 10,000,000 bytes"),  # 100 MB
])
def test_sql_panel_refuses_results_over_its_row_and_byte_limits(client, settings, sql, refusal):
    settings.API_RATE_LIMIT = "1000/m"
    response = client.post("/api/sql", json.dumps({"sql": sql}), content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"].startswith(refusal)
    small = client.post("/api/sql", json.dumps({"sql": "SELECT number FROM numbers(1000)"}),
                        content_type="application/json")
    assert small.status_code == 200 and len(small.json()["rows"]) == 1000


@pytest.mark.services
@pytest.mark.django_db
def test_sql_panel_shows_money_exactly_and_refuses_its_own_format(client):
    def run(sql: str):
        return client.post("/api/sql", json.dumps({"sql": sql}), content_type="application/json")

    exact = run("SELECT toDecimal128('123456789012345678.67', 2) AS volume")
    assert exact.status_code == 200 and exact.json()["rows"] == [["123456789012345678.67"]]
    assert run("SELECT 1 FORMAT TSV").status_code == 400
