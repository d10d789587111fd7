FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DATABASE_URL=sqlite:////data/gramlink.db \
    HTTP_PORT=8080

RUN useradd --create-home --uid 10001 gramlink \
    && mkdir /data && chown gramlink:gramlink /data

WORKDIR /app

# Dependencies first, so that a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir bot storage && touch bot/__init__.py storage/__init__.py \
    && pip install . && pip uninstall --yes gramlink

COPY bot ./bot
COPY storage ./storage
RUN pip install --no-deps .

USER gramlink
VOLUME ["/data"]
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os, sys, urllib.request; port = os.environ.get('HTTP_PORT', '8080'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4).status == 200 else 1)"

CMD ["python", "-m", "bot"]
