"""Django's own tables: reference data and operational state (not the trades,
which live in ClickHouse)."""

import datetime as dt

from django.conf import settings
from django.db import models


class Symbol(models.Model):
    """A NASDAQ-listed security the system trades and shows."""

    class FinancialStatus(models.TextChoices):
        NORMAL = "N", "Normal"
        DEFICIENT = "D", "Deficient"
        DELINQUENT = "E", "Delinquent"
        BANKRUPT = "Q", "Bankrupt"
        DEFICIENT_BANKRUPT = "G", "Deficient and bankrupt"
        DEFICIENT_DELINQUENT = "H", "Deficient and delinquent"
        DELINQUENT_BANKRUPT = "J", "Delinquent and bankrupt"
        DEFICIENT_DELINQUENT_BANKRUPT = "K", "Deficient, delinquent and bankrupt"
        UNKNOWN = "", "Unknown"

    class MarketCategory(models.TextChoices):
        GLOBAL_SELECT = "Q", "Global Select Market"
        GLOBAL = "G", "Global Market"
        CAPITAL = "S", "Capital Market"

    symbol = models.CharField(max_length=16, unique=True)
    name = models.CharField(max_length=255)
    market_category = models.CharField(max_length=1, choices=MarketCategory.choices, blank=True)
    financial_status = models.CharField(max_length=1, choices=FinancialStatus.choices, blank=True)
    is_etf = models.BooleanField("ETF", default=False)
    active = models.BooleanField(default=True, help_text="Inactive symbols get no generated trades.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["symbol"]

    def __str__(self) -> str:
        return f"{self.symbol} ({self.name})"


class WorkerStatus(models.Model):
    """The last state the supervisor saw of one worker slot (shown read-only in admin)."""

    # The supervisor writes its slots' rows about once a second. A row older than this is
    # of a pool that died without saying so: its state is no longer news.
    FRESH_FOR = dt.timedelta(seconds=30)

    job = models.CharField(max_length=64)
    slot = models.PositiveIntegerField()
    state = models.CharField(max_length=16)
    pid = models.PositiveIntegerField(null=True, blank=True)
    partitions = models.CharField(max_length=512, blank=True)
    last_heartbeat = models.DateTimeField(null=True, blank=True)
    consumed = models.BigIntegerField(default=0)
    inserted = models.BigIntegerField(default=0)
    dead_lettered = models.BigIntegerField(default=0)
    lag = models.BigIntegerField(default=0, help_text="Messages behind the newest, over the slot's partitions.")
    restarts = models.PositiveIntegerField(default=0)
    host = models.CharField(max_length=255, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        unique_together = [("host", "job", "slot")]
        ordering = ["job", "slot"]
        verbose_name_plural = "worker statuses"

    def __str__(self) -> str:
        return f"{self.job} worker {self.slot} ({self.state})"

    def is_silent(self, now: dt.datetime) -> bool:
        return self.updated_at < now - self.FRESH_FOR


class VolumeAlert(models.Model):
    """A max-volume alert as the alerts job published it (ClickHouse's `volume_alerts`
    holds the same rows for SQL users; this copy is what admin lists)."""

    window_start = models.DateTimeField(unique=True)
    window_end = models.DateTimeField()
    symbol = models.CharField(max_length=16)
    volume = models.DecimalField(max_digits=38, decimal_places=2, help_text="Price × quantity over the window, USD.")
    trades = models.BigIntegerField()
    published_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-window_start"]

    def __str__(self) -> str:
        return f"{self.symbol} led {self.window_start:%Y-%m-%d %H:%M}–{self.window_end:%H:%M} UTC"


class SqlPanelQuery(models.Model):
    """One query run through the dashboard's SQL panel: the audit trail operators read in
    admin. Rows older than SQL_PANEL_AUDIT_DAYS are deleted as new ones are written."""

    class Outcome(models.TextChoices):
        OK = "ok", "Answered"
        REFUSED = "refused", "Refused"

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL)
    address = models.GenericIPAddressField(null=True, blank=True)
    sql = models.TextField()
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    message = models.TextField(blank=True)
    rows = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.FloatField()

    class Meta:
        ordering = ["-at"]
        verbose_name = "SQL panel query"
        verbose_name_plural = "SQL panel queries"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.user or self.address}: {self.outcome}"


class WatchlistEntry(models.Model):
    """A symbol a logged-in user follows (anonymous visitors keep theirs in the browser)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="watchlist")
    symbol = models.ForeignKey(Symbol, on_delete=models.CASCADE, related_name="watchers")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user", "symbol__symbol"]
        constraints = [models.UniqueConstraint(fields=["user", "symbol"], name="one_entry_per_user_and_symbol")]
        verbose_name_plural = "watchlist entries"

    def __str__(self) -> str:
        return f"{self.user} follows {self.symbol.symbol}"
