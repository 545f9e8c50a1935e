"""WebSocket routes."""

from django.urls import path

from trademonitor.consumers import DashboardConsumer

websocket_urlpatterns = [
    path("ws/live", DashboardConsumer.as_asgi()),
]
