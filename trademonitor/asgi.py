"""ASGI entry point, served by daphne: Django for HTTP, Channels for WebSockets."""

import functools
import os
from collections.abc import Callable
from typing import Any

import autobahn.websocket.protocol
import txaio
from django.core.asgi import get_asgi_application

from infra import write_through
from infra.memory import freeze_loaded_objects, keep_freed_memory
from infra.request_threads import RequestThreads

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trademonitor.settings")

# Django must be set up before anything imports models (the WebSocket routes do).
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from trademonitor.routing import websocket_urlpatterns  # noqa: E402

NOT_FORMATTED = "(not formatted: autobahn logs no debug lines)"


def for_debug_lines(format_: Callable[..., str]) -> Callable[..., str]:
    """`format_`, applied only while autobahn's debug lines are logged."""

    @functools.wraps(format_)
    def formatted_if_logged(*args: Any, **kwargs: Any) -> str:
        # txaio defines its level functions once autobahn has chosen Twisted; mypy cannot see them.
        if txaio.get_global_log_level() in ("debug", "trace"):  # type: ignore[attr-defined]
            return format_(*args, **kwargs)
        return NOT_FORMATTED

    return formatted_if_logged


# autobahn formats the arguments of its debug lines whether they are logged or not: its
# whole configuration on every WebSocket connection, the method and the peer on every
# frame it sends (docs/benchmarks/design.md). Its protocol module formats with these for
# debug lines only, but for one error line of a client's handshake (daphne serves).
for _name in ("pformat", "hltype", "hlval"):
    setattr(autobahn.websocket.protocol, _name, for_debug_lines(getattr(autobahn.websocket.protocol, _name)))


class UserWhenLoginRequired:
    """The session's user in the scope, looked up only while DASHBOARD_LOGIN_REQUIRED is on:
    the lookup is a thread hop per connection, for a user nothing else reads."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.with_user = AuthMiddlewareStack(inner)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        application = self.with_user if settings.DASHBOARD_LOGIN_REQUIRED else self.inner
        return await application(scope, receive, send)


application = ProtocolTypeRouter(
    {
        # A kept thread for each request's synchronous code, not one started for it (infra/request_threads.py).
        "http": RequestThreads(django_asgi_app),
        # Origin first (no cross-site pages), then the session's user (DASHBOARD_LOGIN_REQUIRED).
        "websocket": AllowedHostsOriginValidator(UserWhenLoginRequired(URLRouter(websocket_urlpatterns))),
    }
)

# Full collections walked all that start-up loaded and paused daphne while clients were
# connecting (infra/memory.py).
freeze_loaded_objects()

# Every new client's snapshot frame is copied on its way out: freed copies are reused
# rather than unmapped and faulted in again for the next client (infra/memory.py).
keep_freed_memory()

# Frames go to the client's socket as they are sent, not on the event loop's next turn
# (infra/write_through.py).
write_through.install()
