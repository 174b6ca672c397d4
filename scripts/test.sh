#!/usr/bin/env bash
# Runs the whole vmgenie test suite: installs what the tests need, vets the
# code for Linux and Windows, then runs every Go test.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh xorriso genisoimage util-linux cloud-init cloud-image-utils \
	qemu-system-x86 qemu-utils ovmf systemd

echo "== go vet (linux)"
go vet ./...
echo "== go vet (windows)"
GOOS=windows go vet ./...
echo "== go vet (darwin, hypervisor drivers)"
GOOS=darwin go vet ./internal/hypervisor/...

echo "== go test"
go test -count=1 -timeout 60m ./...
