import datetime as dt

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest
from django.utils import timezone

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

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(WorkerStatus)
class WorkerStatusAdmin(ReadOnlyAdmin):
    """Operational state written by `runworkers`."""

    # What says whether a worker is well comes first, where a narrow window still shows it.
    list_display = ["job", "slot", "shown_state", "heartbeat", "lag", "restarts", "dead_lettered", "consumed",
                    "inserted", "partitions", "pid", "host"]
    list_filter = ["job", "state", "host"]

    @admin.display(description="state", ordering="state")
    def shown_state(self, status: WorkerStatus) -> str:
        """A row its pool stopped writing says so, not the last state it wrote."""
        if status.is_silent(timezone.now()):
            return f"silent for {_age(status.updated_at)} (last said {status.state})"
        return status.state

    @admin.display(description="last heartbeat", ordering="last_heartbeat")
    def heartbeat(self, status: WorkerStatus) -> str:
        return f"{_age(status.last_heartbeat)} ago" if status.last_heartbeat else "never"


def _age(moment: dt.datetime) -> str:
    seconds = max(0.0, (timezone.now() - moment).total_seconds())
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.0f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"


@admin.register(VolumeAlert)
class VolumeAlertAdmin(ReadOnlyAdmin):
    """The alerts job's max-volume alerts, newest window first."""

    list_display = ["window_start", "window_end", "symbol", "dollars", "trades", "published_at"]
    search_fields = ["symbol"]
    date_hierarchy = "window_start"

    @admin.display(description="volume", ordering="volume")
    def dollars(self, alert: VolumeAlert) -> str:
        return f"${alert.volume:,.2f}"  # Decimal: exact to the cent


@admin.register(SqlPanelQuery)
class SqlPanelQueryAdmin(ReadOnlyAdmin):
    """The SQL panel's audit trail: who ran what, when, and what came of it."""

    list_display = ["at", "user", "address", "outcome", "rows", "duration", "short_sql"]
    list_filter = ["outcome"]
    search_fields = ["sql", "address", "user__username"]
    date_hierarchy = "at"

    @admin.display(description="duration", ordering="duration_ms")
    def duration(self, query: SqlPanelQuery) -> str:
        return f"{query.duration_ms:,.0f} ms"

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
