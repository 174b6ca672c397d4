#!/usr/bin/env bash
# Benchmarks the vmgenie service: builds bin/vmgenie, then measures status
# round trips against a concurrent server and a one-at-a-time server in
# one run (see internal/tools/benchservice). Extra arguments go to the
# bench program, for example: scripts/bench-service.sh -duration 10s
set -euo pipefail
cd "$(dirname "$0")/.."

go build -o bin/vmgenie ./cmd/vmgenie
go run ./internal/tools/benchservice -binary bin/vmgenie "$@"
