"""The ASGI entry point's one adjustment of the WebSocket stack (trademonitor/asgi.py)."""

import gc
import pprint

import autobahn.util
import autobahn.websocket.protocol
import pytest
import txaio


class Unprintable:
    def __repr__(self) -> str:
        raise AssertionError("formatted for a debug line that is not logged")


@pytest.fixture
def autobahn_log_level():
    txaio.use_twisted()  # as daphne runs autobahn
    level = txaio.get_global_log_level()
    yield txaio.set_global_log_level
    txaio.set_global_log_level(level)


def test_autobahn_formats_its_debug_lines_only_when_they_are_logged(autobahn_log_level):
    import trademonitor.asgi  # noqa: F401 (daphne imports it at start)

    protocol = autobahn.websocket.protocol
    autobahn_log_level("info")
    assert protocol.pformat([Unprintable()]) == "(not formatted: autobahn logs no debug lines)"
    assert protocol.hltype(Unprintable) == protocol.hlval(Unprintable()) == "(not formatted: autobahn logs no debug lines)"
    autobahn_log_level("debug")
    configuration = [("autoPingInterval", 20, "WebSocketServerFactory"), ("maxMessagePayloadSize", 0, "x")]
    assert protocol.pformat(configuration) == pprint.pformat(configuration)
    assert protocol.hlval(42) == autobahn.util.hlval(42) and "Unprintable" in protocol.hltype(Unprintable)


def test_what_the_web_process_loads_is_kept_out_of_full_collections():
    import trademonitor.asgi  # noqa: F401 (daphne imports it at start)

    assert gc.get_freeze_count() > 10_000  # Django and the apps, at least
