#!/usr/bin/env bash
# Placeholder: installs the real servers the tests use (filled in with telemetry).
exit 0
