# cell-twin image: `twin run` on the default scenario (OPC UA server, telemetry to InfluxDB).
#
# Stage 1 fetches the companion-spec NodeSet2 files from the npm package node-opcua-nodesets
# (`npm pack`, pinned and integrity-checked by scripts/fetch-nodesets.sh); stage 2 builds the
# wheel; the runtime stage installs it on python:3.11-slim, with no node or build tools.

FROM node:22-bookworm-slim AS nodesets
RUN apt-get update \
    && apt-get install -y --no-install-recommends openssl ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY scripts/fetch-nodesets.sh scripts/fetch-nodesets.sh
RUN bash scripts/fetch-nodesets.sh && cp -r .cache/nodesets /nodesets

FROM python:3.11-slim AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY twin twin
COPY opcua_server opcua_server
COPY adapters adapters
COPY dashboards dashboards
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TWIN_NODESETS_DIR=/opt/cell-twin/nodesets
RUN useradd --system --uid 10001 --home-dir /var/lib/cell-twin --create-home twin
COPY --from=wheel /wheels /tmp/wheels
RUN pip install --no-cache-dir /tmp/wheels/*.whl && rm -rf /tmp/wheels
COPY --from=nodesets /nodesets /opt/cell-twin/nodesets
COPY scenarios /opt/cell-twin/scenarios
USER twin
WORKDIR /var/lib/cell-twin
# OPC UA
EXPOSE 4840
ENTRYPOINT ["twin"]
CMD ["run", "/opt/cell-twin/scenarios/default.toml", "--host", "0.0.0.0", "--port", "4840", "--resume-if-possible"]
