from django.contrib import admin
from django.urls import path

from trademonitor import api, errorpages, views

urlpatterns = [
    path("", views.index, name="index"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics, name="metrics"),
    path("api/symbols", api.symbols, name="api-symbols"),
    path("api/symbols/<str:symbol>/trades", api.trades, name="api-trades"),
    path("api/symbols/<str:symbol>/candles", api.candles, name="api-candles"),
    path("api/symbols/<str:symbol>/trades.csv", api.trades_csv, name="api-trades-csv"),
    path("api/watchlist", api.watchlist, name="api-watchlist"),
    path("api/watchlist/<str:symbol>", api.watchlist_symbol, name="api-watchlist-symbol"),
    path("api/sql", api.sql, name="api-sql"),
    path("admin/", admin.site.urls),
]

# Under /api/ the errors are JSON, as the API's own are (trademonitor/errorpages.py).
handler400 = errorpages.bad_request
handler404 = errorpages.not_found
handler500 = errorpages.server_error
