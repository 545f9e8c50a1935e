"""Trade Monitor settings: the one place configuration lives.

Every value comes from an environment variable; the defaults are for a
development machine running the embedded services (`manage.py devservices up`).
Production sets the variables (docker-compose, k8s) instead of editing this file.
"""

import os
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    return env(name, "1" if default else "0").strip().lower() in {"1", "true", "yes", "on"}


def with_password(url: str, password_variable: str) -> str:
    """`url` with the password from `password_variable`, when that is set: a deployment keeps
    each password once, in the Secret its server reads too, and the URL (user, host,
    database) in plain configuration."""
    password = os.environ.get(password_variable)
    if not password:
        return url
    parts = urlsplit(url)
    user = (parts.username or "") if "@" in parts.netloc else ""
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{user}:{quote(password, safe='')}@{host}"))


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


# Credentials of a development machine, readable by anyone here: refused when
# DJANGO_DEBUG=0 (at the end of this file).
DEVELOPMENT_DEFAULTS = {
    "DJANGO_SECRET_KEY": "dev-only-insecure-key-change-me",
    "CLICKHOUSE_URL": "http://default:@127.0.0.1:8123/trademonitor",
    "CLICKHOUSE_READONLY_URL": "http://trademonitor_ro:readonly-dev-password@127.0.0.1:8123/trademonitor",
    "CLICKHOUSE_PANEL_URL": "http://trademonitor_panel:panel-dev-password@127.0.0.1:8123/trademonitor",
}

DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = env("DJANGO_SECRET_KEY", DEVELOPMENT_DEFAULTS["DJANGO_SECRET_KEY"])
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")

DATABASES = {
    "default": dj_database_url.parse(with_password(env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
                                                   "POSTGRES_PASSWORD")),
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Several processes (supervisors, workers, web) share one SQLite file in development.
    # A write transaction takes the write lock when it begins (IMMEDIATE), waiting up to
    # `timeout` for it: one that began as a read and then wrote (update_or_create) got
    # "database is locked" at once, without waiting, whenever another connection was
    # committing, and the alerts worker died of it. WAL: a read never waits for a write.
    DATABASES["default"].setdefault("OPTIONS", {}).update({
        "timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;",
    })
elif DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # Under daphne each request runs on a thread of its own, so Django connects for every
    # request and closes at its end (persistent connections need threads that live on, and
    # Django advises against them under ASGI): a new PostgreSQL session a request. The pool
    # hands a request a connection already open and takes it back; one the server dropped
    # is found out before it is handed over (CONN_HEALTH_CHECKS).
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1, "max_size": int(env("DATABASE_POOL_SIZE", "10")), "timeout": 10,
    }

# --- The three services the system stands on -------------------------------------
KAFKA_BOOTSTRAP_SERVERS = env("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
KAFKA_TOPIC = env("KAFKA_TOPIC", "trades")
KAFKA_TOPIC_PARTITIONS = int(env("KAFKA_TOPIC_PARTITIONS", "3"))

# Writer (workers, migrations) and read-only user (the web app). The URL path is the
# database; `?compress=lz4` turns on HTTP compression (worth it over a real network,
# not over loopback to the embedded endpoint).
# A URL's password may instead come from the variable the server reads it from too
# (CLICKHOUSE_WRITER_PASSWORD, CLICKHOUSE_READONLY_PASSWORD, CLICKHOUSE_PANEL_PASSWORD).
CLICKHOUSE_URL = with_password(env("CLICKHOUSE_URL", DEVELOPMENT_DEFAULTS["CLICKHOUSE_URL"]),
                               "CLICKHOUSE_WRITER_PASSWORD")
CLICKHOUSE_READONLY_URL = with_password(env("CLICKHOUSE_READONLY_URL", DEVELOPMENT_DEFAULTS["CLICKHOUSE_READONLY_URL"]),
                                        "CLICKHOUSE_READONLY_PASSWORD")
# The SQL panel's own user: what a visitor types runs as it, and only as it
# (deploy/clickhouse/users.xml: readonly, SELECT on the project database, small limits, a quota).
CLICKHOUSE_PANEL_URL = with_password(env("CLICKHOUSE_PANEL_URL", DEVELOPMENT_DEFAULTS["CLICKHOUSE_PANEL_URL"]),
                                     "CLICKHOUSE_PANEL_PASSWORD")

# Empty: one ClickHouse server. A cluster name (from its remote_servers config):
# migrations create Replicated tables and Distributed ones over them, ON CLUSTER, and
# workers write each Kafka partition's rows to its shard's own tables (clickhouse/shards.py).
CLICKHOUSE_CLUSTER = env("CLICKHOUSE_CLUSTER", "")
# The shards workers write to, in remote_servers order: shards separated by ";", each a
# comma-separated list of its replicas' host:port. User, password, database and options
# are CLICKHOUSE_URL's. Empty: one shard, CLICKHOUSE_URL itself. Required with a cluster.
CLICKHOUSE_SHARDS = env("CLICKHOUSE_SHARDS", "")

REDIS_URL = with_password(env("REDIS_URL", "redis://127.0.0.1:6379/0"), "REDIS_PASSWORD")

# Jobs `runworkers --job NAME` can run (workers/jobs.py says what a job is).
WORKER_JOBS = {
    "ingest": "workers.ingest.IngestJob",
    "sentiment": "workers.sentiment.SentimentJob",
    "alerts": "workers.alerts.AlertsJob",
}
# The sentiment job's WHALE threshold: a trade of more shares than this.
SENTIMENT_WHALE_QUANTITY = int(env("SENTIMENT_WHALE_QUANTITY", "5000"))
# The alerts job: the highest-volume symbol of every window (event time, aligned to
# the clock), published to ALERTS_TOPIC once the stream is LATENESS past the window.
ALERTS_TOPIC = env("ALERTS_TOPIC", "alerts")
ALERTS_WINDOW_MINUTES = int(env("ALERTS_WINDOW_MINUTES", "5"))
ALERTS_LATENESS_SECONDS = int(env("ALERTS_LATENESS_SECONDS", "60"))

# Prometheus metrics and /healthz of `runworkers`' supervisor.
WORKERS_METRICS_PORT = int(env("WORKERS_METRICS_PORT", "9464"))
# How long stopping workers may take to flush, insert and commit before the supervisor
# kills them (5 s later). Deployments give a stop more than that (compose's
# stop_grace_period, Kubernetes' terminationGracePeriodSeconds).
WORKERS_DRAIN_SECONDS = float(env("WORKERS_DRAIN_SECONDS", "20"))

# Where `manage.py devservices` keeps pid files, logs and the embedded services' data.
DEVSERVICES_DIR = Path(env("DEVSERVICES_DIR", str(BASE_DIR / ".devservices")))

# --- Django -------------------------------------------------------------------------
INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "csp",
    "axes",
    "trademonitor",
    "workers",  # its management commands: runworkers, jobs
]

MIDDLEWARE = [
    # First: /healthz, /readyz and /metrics answer whatever the Host header (kubelet
    # probes and Prometheus address a pod by its IP), before any host check.
    "trademonitor.probes.ProbeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_ratelimit.middleware.RatelimitMiddleware",  # over the limit: RATELIMIT_VIEW's 429
    "axes.middleware.AxesMiddleware",  # last: answers a locked-out login
]

# Logins are throttled (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one
# user from one address, or from one address for any users, further attempts are
# refused without checking the password until the cool-off passes or an operator
# resets them (admin: Axes). A right password from another address still logs in.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = int(env("LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(env("LOGIN_COOLOFF_HOURS", "0.25"))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_RESET_ON_SUCCESS = True

ROOT_URLCONF = "trademonitor.urls"
ASGI_APPLICATION = "trademonitor.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# The pub/sub layer fans each delta out to every dashboard; the core layer would
# silently drop messages to a full channel. Redis's pub/sub channels are shared by all of
# its databases, so systems sharing one Redis (the test suite beside the demo) are kept
# apart by the prefix of their channel names, not by the URL's database number.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": env("CHANNEL_LAYER_PREFIX", "asgi")},
    },
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
FORMAT_MODULE_PATH = ["trademonitor.formats"]  # ISO dates and times with seconds and zone
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# The dashboard's chart library, pinned in package-lock.json and installed by `make setup`
# (npm ci) or the image's assets stage; served from here, never from a CDN.
STATICFILES_DIRS = [("vendor/lightweight-charts", BASE_DIR / "node_modules" / "lightweight-charts")]
# Served by WhiteNoise under daphne; in development straight from the app folders, looked
# up on each request. Both follow DEBUG as read here: left to itself WhiteNoise reads it
# when its middleware starts, which the tests turn off, and then looks for the collected
# STATIC_ROOT that only the image makes (a warning on every test request).
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Security ------------------------------------------------------------------------
# Production (DJANGO_DEBUG=0) defaults to HTTPS only: secure cookies, HSTS, redirects.
# Behind a TLS-terminating proxy set DJANGO_TRUST_X_FORWARDED_PROTO=1 (the proxy must
# set X-Forwarded-Proto); plain-HTTP setups (compose on localhost) switch the rest off.
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")
CSRF_FAILURE_VIEW = "trademonitor.errorpages.csrf_failure"  # JSON under /api/
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("DJANGO_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]  # probes and scrapers speak HTTP
SECURE_HSTS_SECONDS = int(env("DJANGO_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
# Preloading is a commitment to HTTPS for the domain for months, browsers' lists
# included: only when asked for (check --deploy's reminder W021 is silenced for it).
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
if env_bool("DJANGO_TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"

# Only this site's own files: no inline script or style, no third party. The
# WebSocket is same-origin ('self' covers ws(s): in CSP Level 3 browsers).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}

# Anonymous visitors may see the dashboard unless this is on; then the page, the API
# and the WebSocket need a logged-in user (Django admin's login page serves).
DASHBOARD_LOGIN_REQUIRED = env_bool("DASHBOARD_LOGIN_REQUIRED", False)
LOGIN_URL = "admin:login"

# What a dashboard client may have been sent and not yet acknowledged reading, in
# bytes (a snapshot is about 300 KB). Past it the server closes with the resync code
# and the page reconnects to a fresh snapshot; a client that never reads is dropped.
DASHBOARD_UNREAD_BYTES = int(env("DASHBOARD_UNREAD_BYTES", "1000000"))

# First pages a dashboard client's subscribes get from the socket, a second on average
# (20 at once, as many as it may have open); past it the page asks the API, whose rate
# limit is per address.
DASHBOARD_PAGES_PER_SECOND = float(env("DASHBOARD_PAGES_PER_SECOND", "5"))

# Per client address and API view, in each web process (django-ratelimit on the
# local-memory cache: a limit that survives Redis being away).
API_RATE_LIMIT = env("API_RATE_LIMIT", "600/m")

# Who may use the SQL panel: off, staff (logged-in staff users) or public (anyone who
# may see the dashboard). Public only by default on a development machine.
SQL_PANEL = env("SQL_PANEL", "public" if DEBUG else "staff")
if SQL_PANEL not in {"off", "staff", "public"}:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"SQL_PANEL must be off, staff or public, not {SQL_PANEL!r}")
# Per logged-in user, else per address, on top of API_RATE_LIMIT.
SQL_PANEL_RATE_LIMIT = env("SQL_PANEL_RATE_LIMIT", "20/m")
# Every panel query is recorded (admin: SQL panel queries) and kept this many days.
SQL_PANEL_AUDIT_DAYS = int(env("SQL_PANEL_AUDIT_DAYS", "90"))
RATELIMIT_VIEW = "trademonitor.access.rate_limited"

LOG_LEVEL = env("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # django-axes announces itself at every start; its lockouts are warnings and still shown.
    "loggers": {"axes": {"level": "WARNING"}},
}


if not DEBUG:
    from django.core.exceptions import ImproperlyConfigured

    _unset = [name for name, default in DEVELOPMENT_DEFAULTS.items() if env(name, default) == default]
    if _unset:
        raise ImproperlyConfigured(f"DJANGO_DEBUG=0 needs real values for {', '.join(_unset)} "
                                   "(the defaults are development credentials)")
