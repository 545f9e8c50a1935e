from django.contrib import admin

from trademonitor.models import Symbol, WorkerStatus


@admin.register(Symbol)
class SymbolAdmin(admin.ModelAdmin):
    list_display = ["symbol", "name", "market_category", "financial_status", "is_etf", "active", "updated_at"]
    list_filter = ["active", "market_category", "financial_status", "is_etf"]
    search_fields = ["symbol", "name"]
    readonly_fields = ["updated_at"]
    list_per_page = 100


@admin.register(WorkerStatus)
class WorkerStatusAdmin(admin.ModelAdmin):
    """Operational state written by `runworkers`; nothing here is edited by hand."""

    list_display = ["job", "slot", "host", "state", "pid", "partitions", "consumed", "inserted", "dead_lettered",
                    "lag", "restarts", "last_heartbeat", "updated_at"]
    list_filter = ["job", "state", "host"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
