"""WebSocket routes (the live dashboard feed is added here)."""

websocket_urlpatterns: list = []
