#!/usr/bin/env bash
# Placeholder: fetches the companion-spec NodeSet2 files (filled in with the OPC UA server).
exit 0
