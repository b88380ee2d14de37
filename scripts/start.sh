#!/usr/bin/env bash
# Quick start, command 1: runs Backbeat with its embedded defaults (installs npm packages
# first if needed). Environment variables (docs/configuration.md) pass through.
set -euo pipefail
source "$(dirname "$0")/lib/ensure.sh"
ensure_node_modules
cd "$ROOT"
# V8's young generation: left alone, V8 grows each semi-space to 32-64 MiB after start-up's
# allocation bursts and keeps it, ~50 MiB of idle RSS for no measured throughput gain (see
# docs/operations.md, "Memory"). A --max-semi-space-size in NODE_OPTIONS wins over this default.
flags=()
[[ "${NODE_OPTIONS:-}" == *--max-semi-space-size* ]] || flags+=(--max-semi-space-size=8)
# Node's compile cache (TypeScript stripped and V8 code cached per source file): from the
# second start on, the type stripper (a WebAssembly module, ~17 MiB resident in each thread
# that loads it) is never loaded and start-up compiles far less. Written under .cache/ (git
# ignored) after start-up; NODE_COMPILE_CACHE= (empty) turns it off, a path moves it.
export NODE_COMPILE_CACHE="${NODE_COMPILE_CACHE-$ROOT/.cache/node-compile}"
[[ -n "$NODE_COMPILE_CACHE" ]] || unset NODE_COMPILE_CACHE
exec "$ROOT/node_modules/.bin/node" "${flags[@]}" src/main.ts "$@"
