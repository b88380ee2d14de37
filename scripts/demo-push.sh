#!/usr/bin/env bash
# The push demo (docs/push.md): local APNs, FCM and Web Push servers, a Backbeat node on a
# fresh DATA_DIR pointed at them, three devices, a localized template, one notification;
# prints the job and what each provider received, then stops everything.
# Works from a fresh clone: installs npm packages if needed and makes the private test CA
# (ensure_test_ca exports NODE_EXTRA_CA_CERTS before any node starts: TLS is verified).
set -euo pipefail
source "$(dirname "$0")/lib/ensure.sh"
ensure_node_modules
ensure_test_ca
cd "$ROOT"
exec "$ROOT/node_modules/.bin/node" scripts/demo-push.ts "$@"
