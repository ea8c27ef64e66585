#!/bin/bash
# InfluxDB 2.x init script (run once by the influxdb image after its automated setup, with the
# influx CLI already configured for the new org and admin token): map the bucket to an InfluxQL
# database of the same name, retention policy "autogen", so Grafana's InfluxQL queries find it.
set -euo pipefail
influx v1 dbrp create \
  --org "${DOCKER_INFLUXDB_INIT_ORG}" \
  --bucket-id "${DOCKER_INFLUXDB_INIT_BUCKET_ID}" \
  --db "${DOCKER_INFLUXDB_INIT_BUCKET}" \
  --rp autogen \
  --default
