# Gatehouse application image: one image for the web, worker, beat and migration processes.
# The Helm chart (helm/gatehouse) picks the process with the container command; the default is web.

# --- builder: the locked virtualenv at /app/.venv, the code, the collected static files ---------
FROM python:3.12-slim AS builder

ENV UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=python3.12 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

RUN pip install --no-cache-dir uv==0.13.9

WORKDIR /app

# Dependencies first, from the lock alone, so code changes reuse this layer.
COPY pyproject.toml uv.lock .python-version ./
RUN uv sync --frozen --no-dev --no-install-project

# Then the project itself, installed editable: the .venv's .pth puts /app and /app/platform on
# sys.path, so the code runs from /app and settings find /app/templates and /app/staticfiles.
COPY . .
RUN uv sync --frozen --no-dev \
    && .venv/bin/python -m compileall -q --invalidation-mode checked-hash platform tenants oauth workers

# Static files are collected at build time (whitenoise serves them). Settings refuse to load
# without their required variables: these placeholders exist for this command only and never
# reach the final image's environment.
RUN SECRET_KEY=collectstatic-placeholder-not-used-at-run-time-0123456789abcdef \
    DATABASE_URL=postgres://collectstatic@localhost:5432/collectstatic \
    REDIS_URL=redis://localhost:6379/0 \
    GATEHOUSE_BASE_DOMAIN=collectstatic.invalid \
    GATEHOUSE_KEY_ENCRYPTION_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
    DJANGO_SETTINGS_MODULE=gatehouse.settings.production \
    .venv/bin/python manage.py collectstatic --noinput

# --- final: the same base image, the same /app path, a non-root user ---------------------------
FROM python:3.12-slim

RUN groupadd --system --gid 10001 gatehouse \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp \
        --shell /usr/sbin/nologin gatehouse

# Owned by root and read-only for the app user: the pods also mount the root filesystem
# read-only and give the processes a writable /tmp.
COPY --from=builder /app /app

ENV PATH="/app/.venv/bin:$PATH" \
    VIRTUAL_ENV=/app/.venv \
    DJANGO_SETTINGS_MODULE=gatehouse.settings.production \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    WEB_CONCURRENCY=2

WORKDIR /app
USER 10001:10001
EXPOSE 8000

# gunicorn reads the worker count from WEB_CONCURRENCY; the config module stops it on a
# configuration error and bounds each request's time on its thread.
CMD ["gunicorn", "--config", "python:gatehouse.gunicorn_conf", "gatehouse.wsgi", \
     "--bind", "0.0.0.0:8000", "--worker-tmp-dir", "/tmp"]
