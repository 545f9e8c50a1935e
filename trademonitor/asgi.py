"""ASGI entry point, served by daphne: Django for HTTP, Channels for WebSockets."""

import gc
import os
from pprint import pformat
from typing import Any

import autobahn.websocket.protocol
import txaio
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trademonitor.settings")

# Django must be set up before anything imports models (the WebSocket routes do).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from trademonitor.routing import websocket_urlpatterns  # noqa: E402


def pformat_for_debug_lines(obj: object, *args: Any, **kwargs: Any) -> str:
    """autobahn's pformat: it is used only for debug lines, so it formats only when they are logged."""
    # txaio defines these once autobahn has chosen Twisted; mypy cannot see them.
    if txaio.get_global_log_level() in ("debug", "trace"):  # type: ignore[attr-defined]
        return pformat(obj, *args, **kwargs)
    return "(not formatted: autobahn logs no debug lines)"


# autobahn pretty-prints its whole configuration for a debug line on every WebSocket
# connection, whether debug lines are logged or not: a ninth of what a connecting client
# cost daphne (BENCHMARKS.md).
autobahn.websocket.protocol.pformat = pformat_for_debug_lines  # type: ignore[assignment]


class UserWhenLoginRequired:
    """The session's user in the scope, looked up only while DASHBOARD_LOGIN_REQUIRED is on:
    the lookup is a thread hop per connection, for a user nothing else reads."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.with_user = AuthMiddlewareStack(inner)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        application = self.with_user if settings.DASHBOARD_LOGIN_REQUIRED else self.inner
        return await application(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Origin first (no cross-site pages), then the session's user (DASHBOARD_LOGIN_REQUIRED).
        "websocket": AllowedHostsOriginValidator(UserWhenLoginRequired(URLRouter(websocket_urlpatterns))),
    }
)

# What is loaded by now (Django, the apps, the libraries) lives as long as the process.
# Frozen, it is left out of the collector's full passes: they scanned about 150,000
# objects, and each paused the process for 40-90 ms while clients were connecting
# (BENCHMARKS.md). Garbage from start-up is collected first, not kept forever.
gc.collect()
gc.freeze()
