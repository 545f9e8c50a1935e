"""Trade Monitor settings: the one place configuration lives.

Every value comes from an environment variable; the defaults are for a
development machine running the embedded services (`manage.py devservices up`).
Production sets the variables (docker-compose, k8s) instead of editing this file.
"""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    return env(name, "1" if default else "0").strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", True)
# A development-only key; a real deployment must set DJANGO_SECRET_KEY.
SECRET_KEY = env("DJANGO_SECRET_KEY", "dev-only-insecure-key-change-me")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")

DATABASES = {
    "default": dj_database_url.parse(env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")),
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Several processes (supervisors, web) write to one SQLite file in development: wait for the lock.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20

# --- The three services the system stands on -------------------------------------
KAFKA_BOOTSTRAP_SERVERS = env("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
KAFKA_TOPIC = env("KAFKA_TOPIC", "trades")
KAFKA_TOPIC_PARTITIONS = int(env("KAFKA_TOPIC_PARTITIONS", "3"))

# Writer (workers, migrations) and read-only user (the web app). The URL path is the
# database; `?compress=lz4` turns on HTTP compression (worth it over a real network,
# not over loopback to the embedded endpoint).
CLICKHOUSE_URL = env("CLICKHOUSE_URL", "http://default:@127.0.0.1:8123/trademonitor")
CLICKHOUSE_READONLY_URL = env(
    "CLICKHOUSE_READONLY_URL", "http://trademonitor_ro:readonly-dev-password@127.0.0.1:8123/trademonitor"
)

# Empty: one ClickHouse server. A cluster name (from its remote_servers config):
# migrations create Replicated tables and Distributed ones over them, ON CLUSTER.
CLICKHOUSE_CLUSTER = env("CLICKHOUSE_CLUSTER", "")

REDIS_URL = env("REDIS_URL", "redis://127.0.0.1:6379/0")

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
    "trademonitor",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

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
# silently drop messages to a full channel.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL]},
    },
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Served by WhiteNoise under daphne; in development straight from the app folders.
WHITENOISE_USE_FINDERS = DEBUG
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOG_LEVEL = env("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}
