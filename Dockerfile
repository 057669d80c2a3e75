# airpy server and worker image. Build: docker build -t airpy .
# Run: docker run -p 50051:50051 -p 50052:50052 -v $PWD/data:/data airpy   (embedded Redis, workers and Arrow Flight beside the server)
# Production: set REDIS_URL and PY_AUTH_SECRET; run `airpy worker --queue …` from the same image (compose.yaml).

# Go tools: the health probe the HEALTHCHECK and Kubernetes probes call.
FROM golang:1.25-bookworm AS gotools
ARG GRPC_HEALTH_PROBE_VERSION=v0.4.62
RUN GOBIN=/out go install github.com/grpc-ecosystem/grpc-health-probe@${GRPC_HEALTH_PROBE_VERSION} \
    && mv /out/grpc-health-probe /out/grpc_health_probe

# The virtualenv, from the lockfile only (no dev tools), with airpy installed as a wheel.
FROM python:3.11-slim-bookworm AS build
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/airpy \
    UV_PYTHON_DOWNLOADS=never
WORKDIR /src
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY airpy ./airpy
COPY generated ./generated
RUN uv sync --frozen --no-dev --no-editable

FROM python:3.11-slim-bookworm
RUN groupadd --system --gid 10001 airpy \
    && useradd --system --uid 10001 --gid airpy --home-dir /var/lib/airpy --create-home airpy \
    && mkdir -p /data \
    && chown airpy:airpy /data
COPY --from=build /opt/airpy /opt/airpy
COPY --from=gotools /out/grpc_health_probe /usr/local/bin/grpc_health_probe
ENV PATH=/opt/airpy/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PY_LISTEN=0.0.0.0:50051 \
    PY_FLIGHT_LISTEN=0.0.0.0:50052 \
    PY_BASE_PATH=/data \
    PY_DATA_DIR=/var/lib/airpy \
    PY_LOG_FORMAT=json
USER 10001:10001
WORKDIR /var/lib/airpy
# gRPC; Arrow Flight; Prometheus metrics when PY_METRICS_LISTEN=0.0.0.0:9464
EXPOSE 50051 50052 9464
VOLUME ["/var/lib/airpy"]
# Liveness: the overall health status (""); readiness is the airpy.v1.JobService status.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["grpc_health_probe", "-addr=127.0.0.1:50051", "-connect-timeout=2s", "-rpc-timeout=2s"]
ENTRYPOINT ["airpy"]
CMD ["serve"]
