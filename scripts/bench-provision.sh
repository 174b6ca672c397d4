#!/usr/bin/env bash
# Measures provisioning of the Debian 12 test guest by vmgenie side by side
# with a bare baseline (cloud-localds, qemu-img create, QEMU with the argv of
# vmgenie's driver, the system ssh client), alternating the two for ROUNDS
# rounds, and prints each round, the medians and the ratio
# vmgenie / baseline for the time to SSH and to cloud-init done (see
# internal/tools/benchprovision).
#
# Every guest runs with QEMU user networking restrict=on and is reached only
# through its SSH port forward on 127.0.0.1. On exit, failure or Ctrl-C the
# bench deletes its VMs, stops its service and removes its files.
#
# Usage: scripts/bench-provision.sh [ROUNDS [BENCH-FLAGS...]]   (default 3 rounds)
# BENCH-FLAGS go to the bench program, such as -logs DIR to keep each
# guest's serial log and the service log.
# Needs root or sudo to build the test image the first time.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${1:-3}
shift $(($# > 0 ? 1 : 0))
if ! [[ $rounds =~ ^[1-9][0-9]*$ ]]; then
	echo "bench-provision: invalid ROUNDS \"$rounds\": give a positive number of rounds" >&2
	exit 2
fi

scripts/deps.sh qemu-system-x86 qemu-utils cloud-image-utils openssh-client mmdebstrap e2fsprogs

work=$(mktemp -d "${TMPDIR:-/tmp}/vmgbp.XXXXXX")

# cleanup is the backstop for a bench program that was killed before its
# own cleanup ran: it stops the service and any QEMU started with a file in
# $work, by pid, then removes $work.
cleanup() {
	local pidfile pid
	if [ -f "$work/run/service.pid" ]; then
		pid=$(cat "$work/run/service.pid")
		if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$work/"; then
			kill "$pid" 2>/dev/null || true
		fi
	fi
	while IFS= read -r -d '' pidfile; do
		pid=$(cat "$pidfile" 2>/dev/null) || continue
		if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "-pidfile $pidfile"; then
			echo "bench-provision: killing QEMU $pid left running ($pidfile)" >&2
			kill -9 "$pid" 2>/dev/null || true
		fi
	done < <(find "$work" -name qemu.pid -print0 2>/dev/null)
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== building vmgenie and the bench program" >&2
go build -o bin/vmgenie ./cmd/vmgenie
go build -o "$work/benchprovision" ./internal/tools/benchprovision

echo "== building or reusing the Debian 12 test image" >&2
image_dir=$(scripts/build-test-image.sh | tail -n 1)

"$work/benchprovision" -binary bin/vmgenie -image-dir "$image_dir" -work "$work/run" -rounds "$rounds" "$@"
