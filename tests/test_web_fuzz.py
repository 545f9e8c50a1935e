"""Every input of the web app, fuzzed against the real ClickHouse endpoint and Redis:
path segments, query parameters, request bodies and WebSocket frames give a 4xx or
a clean close, never a 500, and no ClickHouse error text outside the SQL panel."""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

import pytest
from channels.testing import WebsocketCommunicator
from django.core.cache import cache
from django.test import Client
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from contract import BAD_REQUEST
from trademonitor.consumers import MAX_FRAME
from trademonitor.models import Symbol

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

CLICKHOUSE_ERROR_MARKS = ("DB::Exception", "Code: ", "clickhouse", "Traceback")
FUZZ = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

any_text = st.text(max_size=80) | st.sampled_from([
    "", "0", "-1", "1e9", "NaN", "' OR 1=1 --", "%00", "../../etc/passwd", "<script>", "A" * 5000, "\x00", "ENTG",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "9" * 40, "[]", "{}",
])


@pytest.fixture
def web(settings):
    # The limits have tests of their own; here they would only get in the way.
    settings.API_RATE_LIMIT = settings.SQL_PANEL_RATE_LIMIT = "1000000/m"
    settings.SQL_PANEL = "public"
    cache.clear()
    Symbol.objects.get_or_create(symbol="ENTG", defaults={"name": "Entegris, Inc."})
    # An address of its own: 150 panel queries use up a visitor's minute of the panel user's
    # quota (60 queries), which would refuse other tests' queries from 127.0.0.1.
    return Client(enforce_csrf_checks=True, raise_request_exception=False, REMOTE_ADDR="192.0.2.99")


def assert_clean(response, *, sent: str = "", sql_panel: bool = False) -> None:
    """A 4xx at worst, and outside the SQL panel no ClickHouse error text. A mark that the
    request itself carried (`sent`) may come back in an echo of it, as in "unknown symbol
    'clickhouse'", so only the others count."""
    assert response.status_code < 500, (response.status_code, response.content[:300])
    if not sql_panel:
        text = response.content.decode("utf-8", "replace")
        leaked = [mark for mark in CLICKHOUSE_ERROR_MARKS if mark in text and mark not in sent]
        assert not leaked, text[:300]


@FUZZ
@given(symbol=any_text, endpoint=st.sampled_from(["trades", "candles"]))
@example(symbol="clickhouse", endpoint="trades")  # echoed back as an unknown symbol: not a leak
def test_symbol_path_segments(web, symbol, endpoint):
    assert_clean(web.get(f"/api/symbols/{quote(symbol, safe='')}/{endpoint}"), sent=symbol)


@FUZZ
@given(symbol=st.sampled_from(["ENTG", "NOSUCH"]), endpoint=st.sampled_from(["trades", "candles", ""]),
       parameters=st.dictionaries(st.sampled_from(["before", "limit", "minutes", "x", "symbol"]), any_text))
def test_query_parameters(web, symbol, endpoint, parameters):
    path = f"/api/symbols/{symbol}/{endpoint}" if endpoint else "/api/symbols"
    assert_clean(web.get(f"{path}?{urlencode(parameters)}"), sent="\n".join(parameters.values()))


@FUZZ
@given(body=st.binary(max_size=300) | st.builds(lambda v: json.dumps(v).encode(), st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.sampled_from(["sql", "x"]), children),
    max_leaves=8)))
def test_sql_panel_bodies(web, body):
    """Every body reaches the view (a valid CSRF token, as the page sends) and gets the
    view's own JSON: rows, or one error line (ClickHouse's reason or ours)."""
    token = web.get("/").cookies["csrftoken"].value
    response = web.post("/api/sql", body, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert_clean(response, sql_panel=True)
    answer = response.json()
    if response.status_code == 200:
        assert set(answer) == {"columns", "rows", "elapsed_ms"} and isinstance(answer["rows"], list)
    else:
        assert response.status_code == 400, (response.status_code, answer)
        assert set(answer) == {"error"} and answer["error"] and "\n" not in answer["error"]


def test_a_sql_panel_post_without_a_csrf_token_is_refused(web):
    response = web.post("/api/sql", json.dumps({"sql": "SELECT 1"}), content_type="application/json")
    assert response.status_code == 403


@FUZZ
@given(method=st.sampled_from(["post", "put", "delete", "patch"]),
       path=st.sampled_from(["/", "/api/symbols", "/api/symbols/ENTG/trades", "/healthz"]))
def test_wrong_methods(web, method, path):
    assert getattr(web, method)(path).status_code in (403, 405)  # 403: POST without a CSRF token


def test_an_oversized_path_is_refused(web):
    assert_clean(web.get("/api/symbols/" + "A" * 100_000 + "/trades"))


def _not_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return True
    return False


symbol_names = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=16)
# (frame, whether the server must close the socket for it)
frames = st.one_of(
    st.text(max_size=200).filter(_not_json).map(lambda text: (text, True)),
    st.builds(lambda kind: (json.dumps({"type": kind, "symbols": []}), True),
              st.text(max_size=12).filter(lambda kind: kind != "subscribe")),
    st.builds(lambda value: (json.dumps(value), True), st.lists(st.integers(), max_size=3) | st.integers() | st.none()),
    st.builds(lambda symbols: (json.dumps({"type": "subscribe", "symbols": symbols}), True),
              st.lists(symbol_names, min_size=21, max_size=30)),
    st.builds(lambda symbols: (json.dumps({"type": "subscribe", "symbols": symbols}), True),
              st.lists(st.integers() | st.none() | st.just(""), min_size=1, max_size=3)),
    st.just(("x" * (MAX_FRAME + 1), True)),
    st.builds(lambda symbols: (json.dumps({"type": "subscribe", "symbols": symbols}), False),
              st.lists(symbol_names, max_size=20)),
)


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(frame=frames, binary=st.booleans())
async def test_websocket_frames(frame, binary):
    from trademonitor.asgi import application

    text, must_close = frame
    communicator = WebsocketCommunicator(application, "/ws/live", headers=[(b"origin", b"http://127.0.0.1"),
                                                                           (b"host", b"127.0.0.1")])
    connected, _ = await communicator.connect(timeout=30)
    assert connected
    assert json.loads(await communicator.receive_from(timeout=30))["type"] == "snapshot"
    # Raw input: send_to() cannot send an empty frame. The protocol is text frames only.
    await communicator.send_input({"type": "websocket.receive", **({"bytes": text.encode()} if binary
                                                                     else {"text": text})})
    if not binary and not must_close:
        # Still open and listening: the next bad frame is the one that closes it.
        await communicator.send_to(text_data="not json")
    assert await _next_close(communicator) == {"type": "websocket.close", "code": BAD_REQUEST}


async def _next_close(communicator) -> dict:
    while True:  # status or delta frames may come first
        output = await communicator.receive_output(timeout=10)
        if output["type"] == "websocket.close":
            return output


@pytest.mark.parametrize("path", ["/api/symbols", "/api/symbols/ENTG/trades", "/api/symbols/ENTG/candles",
                                  "/api/symbols/ENTG/trades.csv"])
def test_clickhouse_away_is_a_503_without_its_words(web, settings, monkeypatch, path):
    from trademonitor import dashboard

    settings.CLICKHOUSE_READONLY_URL = "http://reader:secret@127.0.0.1:9/trademonitor?connect_timeout=1"
    monkeypatch.setattr(dashboard._local, "client", None, raising=False)  # no client made before the outage
    response = web.get(path)
    assert response.status_code == 503
    assert response.json() == {"error": "the trade store is unavailable; try again shortly"}
