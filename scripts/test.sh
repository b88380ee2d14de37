#!/usr/bin/env bash
# Quick start, command 2: the whole test suite (or `--project unit|integration|
# performance|security|ml`). Installs npm packages, Redis and Chromium, starts the
# services the suites need (Redis, a local Redis Cluster, Kafka) when absent, stops what it
# started, and ends with the plain line `N passed, N failed` that CI reads. Extra
# arguments go to vitest.
set -uo pipefail
source "$(dirname "$0")/lib/ensure.sh"
ensure_node_modules || exit 1
ensure_redis || log "redis unavailable: suites that need it will fail"
ensure_redis_cluster || log "redis cluster unavailable: the redis-cluster suites will fail"
ensure_chromium || log "chromium unavailable: the browser tests will fail"
ensure_kafka || log "kafka unavailable: the kafka suites will fail"
ensure_postgres || log "postgresql unavailable: the postgres store suites will fail"
ensure_test_ca || log "test CA unavailable: the push provider suites will fail"
trap stop_started_services EXIT
cd "$ROOT"
mkdir -p test-results
rm -f test-results/vitest.json test-results/vitest.log
coverage=(--coverage)
[ "${BACKBEAT_COVERAGE:-1}" = "0" ] && coverage=()
# The log keeps what only the console shows, e.g. a missed coverage threshold, which
# fails the run (vitest exits 1) without failing a test: the summary counts it.
node_modules/.bin/vitest run "${coverage[@]}" --reporter=default --reporter=json --outputFile.json=test-results/vitest.json "$@" 2>&1 |
  tee test-results/vitest.log
rc=${PIPESTATUS[0]}
node_modules/.bin/node scripts/summarize-tests.ts test-results/vitest.json --log test-results/vitest.log --exit-code "$rc" || rc=1
exit $rc
