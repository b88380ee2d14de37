#!/usr/bin/env bash
# Quick start, command 1: runs Backbeat with its embedded defaults (installs npm packages
# first if needed). Environment variables (docs/configuration.md) pass through.
set -euo pipefail
source "$(dirname "$0")/lib/ensure.sh"
ensure_node_modules
cd "$ROOT"
exec "$ROOT/node_modules/.bin/node" src/main.ts "$@"
