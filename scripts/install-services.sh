#!/usr/bin/env bash
# Installs the real servers the tests start themselves (on free loopback ports, with temporary
# data directories): VictoriaMetrics (accepts the InfluxDB v2 write API), InfluxDB 1.x (runs
# the dashboards' InfluxQL queries) and nginx (a reverse proxy with a request size limit in
# front of the database), from the Debian packages `victoria-metrics`, `influxdb` and
# `nginx-light`.
#
# Idempotent: does nothing when both binaries are present; runs `apt-get update` only when a
# package has no install candidate yet, or once when the install fails on stale package lists.
# System services are never started (policy-rc.d denies them for the duration of the install).
set -euo pipefail

declare -A BINARIES=(
    [victoria-metrics]=/usr/bin/victoria-metrics
    [influxdb]=/usr/bin/influxd
    [nginx-light]=/usr/sbin/nginx
)

missing=()
for pkg in "${!BINARIES[@]}"; do
    [[ -x "${BINARIES[$pkg]}" ]] || missing+=("$pkg")
done
if [[ ${#missing[@]} -eq 0 ]]; then
    echo "services: victoria-metrics, influxdb and nginx already installed"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "services: apt-get not found; install ${missing[*]} by hand" >&2
    exit 1
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        echo "services: need root (or sudo) to install ${missing[*]}" >&2
        exit 1
    fi
fi

has_candidate() {
    local candidate
    candidate=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')
    [[ -n "$candidate" && "$candidate" != "(none)" ]]
}

need_update=0
for pkg in "${missing[@]}"; do
    has_candidate "$pkg" || need_update=1
done
if [[ $need_update -eq 1 ]]; then
    "${SUDO[@]}" apt-get update -qq
fi

# Keep maintainer scripts from starting system services: the tests start their own servers.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
    "${SUDO[@]}" chmod 755 "$policy"
    created_policy=1
fi
cleanup() {
    if [[ $created_policy -eq 1 ]]; then
        "${SUDO[@]}" rm -f "$policy"
    fi
}
trap cleanup EXIT

install() {
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
echo "services: installing ${missing[*]}"
if ! install; then
    if [[ $need_update -eq 1 ]]; then
        # the lists were refreshed just now: a retry would fail the same way
        echo "services: apt-get install ${missing[*]} failed" >&2
        exit 1
    fi
    # stale package lists (a candidate whose file is gone): refresh them once and retry
    echo "services: install failed; refreshing package lists and retrying"
    "${SUDO[@]}" apt-get update -qq
    if ! install; then
        echo "services: apt-get install ${missing[*]} failed again after the refresh" >&2
        exit 1
    fi
fi

for pkg in "${missing[@]}"; do
    if [[ ! -x "${BINARIES[$pkg]}" ]]; then
        echo "services: $pkg installed but ${BINARIES[$pkg]} is missing" >&2
        exit 1
    fi
done
echo "services: installed ${missing[*]}"
