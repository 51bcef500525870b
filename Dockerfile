# ccbridge: one image for the proxy and its maintenance commands
# (ccbridge serve | migrate | check | import | dbmigrate).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The package and its generated storage code (generated/ is committed).
COPY pyproject.toml README.md ./
COPY ccbridge ./ccbridge
COPY generated ./generated
COPY codegen ./codegen
RUN pip install . \
    && useradd --create-home --uid 10001 ccbridge \
    && mkdir -p /app/.config \
    && chown -R ccbridge:ccbridge /app/.config

USER ccbridge

# Listen on every interface inside the container; state lives in
# /app/.config (the SQLite database, or legacy files to import). A bind
# mount there must be writable by uid 10001 (the compose files do that).
ENV HOST=0.0.0.0 \
    PORT=3000
EXPOSE 3000
VOLUME ["/app/.config"]

# Probes the port and path the server uses, so `-e PORT=8080` or a
# HEALTH_CHECK_PATH of your own keeps it right.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s%s' % (os.environ.get('PORT', '3000'), os.environ.get('HEALTH_CHECK_PATH') or '/health'), timeout=4)"]

ENTRYPOINT ["ccbridge"]
CMD ["serve"]
