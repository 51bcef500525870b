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
    && mkdir -p /app/.config /app/logs \
    && chown -R ccbridge:ccbridge /app/.config /app/logs

USER ccbridge

# Listen on every interface inside the container; state lives in
# /app/.config (the SQLite database, or legacy files to import).
ENV HOST=0.0.0.0 \
    PORT=3000
EXPOSE 3000
VOLUME ["/app/.config"]

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/health', timeout=4)"

ENTRYPOINT ["ccbridge"]
CMD ["serve"]
