# aquaembed: the service and the demo in one image.
#
#   docker build -t aquaembed .
#   docker run --rm -p 8050:8050 aquaembed                       # builds and serves the demo
#   docker run --rm -p 8050:8050 -v "$PWD/data:/app/data" aquaembed \
#       aquaembed serve --data /app/data --host 0.0.0.0           # serves your stored datasets
#
# The install is `make demo`'s (`pip install -e '.[app]'`: the core plus the app extra,
# without the test extra).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NUMBA_CACHE_DIR=/tmp/numba-cache \
    MPLCONFIGDIR=/tmp/matplotlib \
    AQUAEMBED_DATA_DIR=/app/data

WORKDIR /app

# Dependencies in their own layer: only pyproject.toml, setup.py (the package map) and the README are
# copied, with empty package stubs, so this layer is rebuilt only when they change.
COPY pyproject.toml setup.py README.md ./
RUN mkdir -p aquaembed dashboard \
    && touch aquaembed/__init__.py dashboard/__init__.py \
    && python -m pip install --upgrade pip \
    && python -m pip install -e '.[app]' \
    && rm -rf aquaembed dashboard

# The code (.dockerignore keeps tests, benchmarks, data and the venv out). The editable
# install above points at /app, so the code is used where it is copied.
COPY . .

RUN useradd --create-home --uid 10001 aquaembed \
    && mkdir -p /app/data \
    && chown aquaembed:aquaembed /app/data
USER aquaembed

EXPOSE 8050
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8050/api/v1/health', timeout=4)"

CMD ["aquaembed", "demo", "--host", "0.0.0.0"]
