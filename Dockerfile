# One image for web, workers, producer and migrations.
# Build: docker build -t trademonitor .
#
# The base is pinned by digest, so a rebuild gets the same bytes whatever the tag points
# to later. Refresh it deliberately: docker buildx imagetools inspect python:3.11-slim-bookworm
ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.txt /tmp/requirements.txt
RUN pip install -r /tmp/requirements.txt

# The dashboard's chart library as package-lock.json pins it (Debian's npm: no second base image).
FROM ${PYTHON_IMAGE} AS assets
RUN apt-get update && apt-get install -y --no-install-recommends npm && rm -rf /var/lib/apt/lists/*
WORKDIR /assets
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${PYTHON_IMAGE}
# No compilers or build tools here: wheels were installed in the build stage.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 DJANGO_DEBUG=0
WORKDIR /app
# The code belongs to root and is only readable by the app: a compromised process cannot
# rewrite what it runs. (Kubernetes also mounts the root filesystem read-only.)
COPY . .
COPY --from=assets /assets/node_modules/lightweight-charts node_modules/lightweight-charts
# Static files are collected at build time; the throw-away values are used for nothing else.
RUN DJANGO_SECRET_KEY=collectstatic-only CLICKHOUSE_URL=http://unused CLICKHOUSE_READONLY_URL=http://unused \
    CLICKHOUSE_PANEL_URL=http://unused python manage.py collectstatic --noinput -v 0
USER app
EXPOSE 8000 9464
# The web's liveness endpoint; the workers' container overrides it with the supervisor's.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "trademonitor.asgi:application"]
