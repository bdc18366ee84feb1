# syntax=docker/dockerfile:1
# The CTI service: `docker build -t cti .` then
#   docker run --rm -v cti-data:/var/lib/cti cti cti migrate
#   docker run -d -p 8080:8080 -v cti-data:/var/lib/cti cti
# Configure with CTI_* variables (CTI_DATABASE_URL, CTI_REDIS_URL, ...) or a mounted TOML file
# named by CTI_CONFIG; see config/cti.example.toml.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NODE_IMAGE=node:20-bookworm-slim

# --- web: the pinned browser libraries the app serves from node_modules (no build step) --------
FROM ${NODE_IMAGE} AS web
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error

# --- build: the locked dependencies (hash-checked) in a venv, and the project at /app ----------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/cti
COPY requirements/main.lock /tmp/main.lock
RUN /opt/cti/bin/pip install --require-hashes --no-deps -r /tmp/main.lock
WORKDIR /app
COPY pyproject.toml README.md ./
COPY cti ./cti
COPY crmlite ./crmlite
COPY --from=web /app/node_modules ./node_modules
# Dependencies came from the lock above; this links the project itself. It stays at /app because
# the browser app serves its libraries from /app/node_modules, next to the packages.
RUN /opt/cti/bin/pip install --no-deps -e . && /opt/cti/bin/cti --help > /dev/null

# --- runtime: the venv and the project, run by an unprivileged user -----------------------------
FROM ${PYTHON_IMAGE} AS runtime
# Pango and the CJK and Arabic-script fonts WeasyPrint needs for PDF quotes (docs/QUOTES.md).
COPY scripts/install-pdf-deps /tmp/install-pdf-deps
RUN /tmp/install-pdf-deps && rm -rf /var/lib/apt/lists/* /tmp/install-pdf-deps
RUN groupadd --system --gid 10001 cti \
    && useradd --system --uid 10001 --gid cti --home-dir /var/lib/cti --shell /usr/sbin/nologin cti \
    && mkdir -p /var/lib/cti \
    && chown cti:cti /var/lib/cti
COPY --from=build /opt/cti /opt/cti
COPY --from=build /app /app
COPY config/cti.example.toml /etc/cti/cti.example.toml
ENV PATH=/opt/cti/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CTI_HOST=0.0.0.0 \
    CTI_PORT=8080 \
    CTI_DATABASE_URL=sqlite+aiosqlite:////var/lib/cti/cti.db
USER cti
WORKDIR /var/lib/cti
VOLUME ["/var/lib/cti"]
EXPOSE 8080
# No curl in the slim image: ask /healthz with the interpreter already shipped.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CTI_PORT', '8080'), timeout=4); sys.exit(0 if r.status == 200 else 1)"]
CMD ["cti", "serve"]
