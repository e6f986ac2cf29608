# Evently: nginx (Debian 12's own binary) + the ngx_evently_module dynamic
# module. PostgreSQL, Redis and Kafka are separate services: see
# docker-compose.yml. Not built on the development machine (no Docker
# there): keep it in step with scripts/setup and scripts/build.

# ---------------------------------------------------------------- build
FROM debian:12 AS build

ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        build-essential nginx nginx-dev \
        libpq-dev libhiredis-dev libjansson-dev librdkafka-dev \
        libssl-dev libcrypt-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/evently
# only the sources: a host build/ or var/ must not come along
COPY config ./config
COPY ngx_evently_module ./ngx_evently_module
COPY scripts ./scripts
RUN scripts/build

# -------------------------------------------------------------- runtime
FROM debian:12

ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        nginx libpq5 libhiredis0.14 libjansson4 librdkafka1 libcrypt1 \
        libssl3 postgresql-client curl ca-certificates \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/evently
COPY conf ./conf
COPY sql ./sql
COPY docs ./docs
COPY scripts ./scripts
COPY --from=build /opt/evently/build/ngx_http_evently_module.so \
     ./build/ngx_http_evently_module.so

ENV EVENTLY_VAR=/var/lib/evently \
    EVENTLY_HOST=0.0.0.0 \
    EVENTLY_HTTP_PORT=8080

EXPOSE 8080
STOPSIGNAL SIGQUIT

HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD curl -fsS -o /dev/null "http://127.0.0.1:${EVENTLY_HTTP_PORT}/health" \
        || exit 1

ENTRYPOINT ["/opt/evently/scripts/docker-entrypoint"]
