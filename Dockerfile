# cxtalk: one image for the API (`cxtalk serve`, the default), the worker (`cxtalk worker`)
# and migrations (`cxtalk migrate`). See docker-compose.yml for a deployment.
#   docker build -t cxtalk .
#   docker run --rm -e DATABASE_URL=... -e REDIS_URL=... -e SECRET_KEY=... -p 8000:8000 cxtalk

# --- build: install the project and its dependencies into a virtualenv ---------------------
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A compiler only for dependencies without a wheel for this platform; never in the final image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY . .
RUN pip install --upgrade pip \
    && pip install .

# --- runtime -------------------------------------------------------------------------------
FROM python:3.11-slim

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DATA_DIR=/data

RUN groupadd --system --gid 10001 cxtalk \
    && useradd --system --uid 10001 --gid cxtalk --home-dir /home/cxtalk --create-home \
        --shell /usr/sbin/nologin cxtalk \
    && mkdir -p /data \
    && chown cxtalk:cxtalk /data

COPY --from=build /opt/venv /opt/venv

# Export files and uploaded images live here; api and worker must share it (one volume).
VOLUME ["/data"]
WORKDIR /home/cxtalk
USER cxtalk

EXPOSE 8000
CMD ["cxtalk", "serve", "--host", "0.0.0.0", "--port", "8000"]
