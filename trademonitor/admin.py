from django.contrib import admin

from trademonitor.models import SqlPanelQuery, Symbol, VolumeAlert, WatchlistEntry, WorkerStatus


@admin.register(Symbol)
class SymbolAdmin(admin.ModelAdmin):
    list_display = ["symbol", "name", "market_category", "financial_status", "is_etf", "active", "updated_at"]
    list_filter = ["active", "market_category", "financial_status", "is_etf"]
    search_fields = ["symbol", "name"]
    readonly_fields = ["updated_at"]
    list_per_page = 100


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the workers; nothing here is edited by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WorkerStatus)
class WorkerStatusAdmin(ReadOnlyAdmin):
    """Operational state written by `runworkers`."""

    list_display = ["job", "slot", "host", "state", "pid", "partitions", "consumed", "inserted", "dead_lettered",
                    "lag", "restarts", "last_heartbeat", "updated_at"]
    list_filter = ["job", "state", "host"]


@admin.register(VolumeAlert)
class VolumeAlertAdmin(ReadOnlyAdmin):
    """The alerts job's max-volume alerts, newest window first."""

    list_display = ["window_start", "window_end", "symbol", "volume", "trades", "published_at"]
    search_fields = ["symbol"]
    date_hierarchy = "window_start"


@admin.register(SqlPanelQuery)
class SqlPanelQueryAdmin(ReadOnlyAdmin):
    """The SQL panel's audit trail: who ran what, when, and what came of it."""

    list_display = ["at", "user", "address", "outcome", "rows", "duration_ms", "short_sql"]
    list_filter = ["outcome"]
    search_fields = ["sql", "address", "user__username"]
    date_hierarchy = "at"

    @admin.display(description="SQL")
    def short_sql(self, query: SqlPanelQuery) -> str:
        return query.sql[:120]


@admin.register(WatchlistEntry)
class WatchlistEntryAdmin(admin.ModelAdmin):
    """Users' watchlists: an operator can see and remove entries (users add their own on the page)."""

    list_display = ["user", "symbol", "added_at"]
    list_filter = ["user"]
    search_fields = ["user__username", "symbol__symbol"]
    autocomplete_fields = ["user", "symbol"]
    readonly_fields = ["added_at"]
