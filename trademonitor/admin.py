from django.contrib import admin

from trademonitor.models import Symbol


@admin.register(Symbol)
class SymbolAdmin(admin.ModelAdmin):
    list_display = ["symbol", "name", "market_category", "financial_status", "is_etf", "active", "updated_at"]
    list_filter = ["active", "market_category", "financial_status", "is_etf"]
    search_fields = ["symbol", "name"]
    readonly_fields = ["updated_at"]
    list_per_page = 100
