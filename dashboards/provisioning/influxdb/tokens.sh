#!/bin/bash
# InfluxDB 2.x init script: the stack's two scoped API tokens, so that neither the twin nor
# Grafana holds the operator token (DOCKER_INFLUXDB_INIT_ADMIN_TOKEN: everything, everywhere):
#   CELLTWIN_WRITE_TOKEN_FILE  may only write to the bucket: the twin's TWIN_INFLUX_TOKEN_FILE
#   CELLTWIN_READ_TOKEN_FILE   may only read the bucket: Grafana's datasource ($__file{...})
# Each file is on its own volume, mounted by InfluxDB and by its one reader only.
#
# The influxdb image runs this once, as root, after its automated setup, with the influx CLI
# configured with the operator token and DOCKER_INFLUXDB_INIT_BUCKET_ID exported: the database
# is new, so a token file found then is from an earlier one and is replaced. Run by hand on a
# stack set up before this script existed, it writes the token files that are missing:
#   docker compose exec influxdb /docker-entrypoint-initdb.d/tokens.sh
set -euo pipefail
umask 022

if [ -n "${DOCKER_INFLUXDB_INIT_BUCKET_ID:-}" ]; then
  replace=yes
  bucket_id=$DOCKER_INFLUXDB_INIT_BUCKET_ID
else
  replace=no
  bucket_id=$(influx bucket list --org "$DOCKER_INFLUXDB_INIT_ORG" \
    --name "$DOCKER_INFLUXDB_INIT_BUCKET" --hide-headers | cut -f 1)
fi
if [ -z "$bucket_id" ]; then
  echo "tokens.sh: no bucket $DOCKER_INFLUXDB_INIT_BUCKET in $DOCKER_INFLUXDB_INIT_ORG" >&2
  exit 1
fi

# token FILE DESCRIPTION PERMISSION: a token with PERMISSION (--read-bucket or --write-bucket)
# on the bucket, and nothing else, written to FILE (readable by all: the volume is the fence)
token() {
  local file=$1 description=$2 permission=$3 answer value
  if [ "$replace" = no ] && [ -s "$file" ]; then
    echo "tokens.sh: kept the token in $file"
    return
  fi
  answer=$(influx auth create --org "$DOCKER_INFLUXDB_INIT_ORG" \
    --user "$DOCKER_INFLUXDB_INIT_USERNAME" --description "$description" \
    "$permission" "$bucket_id" --json)
  # the CLI prints the new authorization as indented JSON, one key per line
  value=$(printf '%s\n' "$answer" | sed -n 's/^[[:space:]]*"token":[[:space:]]*"\([^"]*\)".*$/\1/p')
  if [ -z "$value" ]; then
    echo "tokens.sh: influx auth create answered no token for $description" >&2
    exit 1
  fi
  mkdir -p "$(dirname "$file")"
  printf '%s' "$value" >"$file.tmp"
  chmod 0444 "$file.tmp"
  mv -f "$file.tmp" "$file"
  echo "tokens.sh: wrote the token for $description to $file"
}

token "$CELLTWIN_WRITE_TOKEN_FILE" "cell-twin: write $DOCKER_INFLUXDB_INIT_BUCKET" --write-bucket
token "$CELLTWIN_READ_TOKEN_FILE" "Grafana: read $DOCKER_INFLUXDB_INIT_BUCKET" --read-bucket
