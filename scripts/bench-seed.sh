#!/usr/bin/env bash
# Builds the same seeds with "vmgenie seed create" and with cloud-localds in
# one run, each as one process per seed, and prints the total and per-seed
# times and their ratio. Every image is then checked with blkid (label
# cidata) and isoinfo (user-data and meta-data as given).
#
# vmgenie syncs each image to disk before it renames it into place and
# cloud-localds does not, so the result depends on how long an fsync takes
# on the output file system. Set BENCH_DIR to choose it (default: $TMPDIR or
# /tmp); BENCH_DIR=/dev/shm measures with a tmpfs, where fsync costs
# nothing.
#
# Usage: [BENCH_DIR=DIR] scripts/bench-seed.sh [COUNT]   (default 200 seeds)
set -euo pipefail
cd "$(dirname "$0")/.."

count=${1:-200}
if ! [[ $count =~ ^[1-9][0-9]*$ ]]; then
	echo "bench-seed: invalid COUNT \"$count\": give a positive number of seeds" >&2
	exit 2
fi
for tool in cloud-localds blkid isoinfo; do
	if ! command -v "$tool" >/dev/null; then
		echo "bench-seed: $tool is missing; install it with scripts/deps.sh cloud-image-utils util-linux genisoimage" >&2
		exit 1
	fi
done

work=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/bench-seed.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "== output file system: $(df --output=fstype "$work" | tail -1) ($work)"
echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg), CPUs: $(nproc)"

echo "== building vmgenie"
go build -o "$work/vmgenie" ./cmd/vmgenie

echo "== writing $count user-data and meta-data pairs"
mkdir -p "$work/in" "$work/vmgenie-out" "$work/cloud-localds-out"
for i in $(seq 1 "$count"); do
	cat >"$work/in/user-data-$i" <<EOF
#cloud-config
hostname: vm-$i
packages: [curl, htop]
users:
  - default
  - name: admin
    sudo: ALL=(ALL) NOPASSWD:ALL
    ssh_authorized_keys: [ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample admin@example]
runcmd:
  - [sh, -c, 'echo seed $i > /run/seed']
EOF
	printf 'instance-id: iid-%016x\nlocal-hostname: vm-%d\n' "$i" "$i" >"$work/in/meta-data-$i"
done

create_vmgenie() { "$work/vmgenie" seed create "$@" >/dev/null; }
create_cloud_localds() { cloud-localds "$@" >/dev/null; }

# The two tools run in turns, seed by seed, with the order swapped every
# seed, so that load from other processes falls on both alike. Times come
# from bash's EPOCHREALTIME, in microseconds, without forking a clock.
echo "== timing $count seeds each, one process per seed, in turns"
vmgenie_us=0
localds_us=0
for i in $(seq 1 "$count"); do
	args=("$work/in/user-data-$i" "$work/in/meta-data-$i")
	if ((i % 2)); then
		t0=${EPOCHREALTIME/./}
		create_vmgenie "$work/vmgenie-out/seed-$i.iso" "${args[@]}"
		t1=${EPOCHREALTIME/./}
		create_cloud_localds "$work/cloud-localds-out/seed-$i.iso" "${args[@]}"
		t2=${EPOCHREALTIME/./}
		vmgenie_us=$((vmgenie_us + t1 - t0))
		localds_us=$((localds_us + t2 - t1))
	else
		t0=${EPOCHREALTIME/./}
		create_cloud_localds "$work/cloud-localds-out/seed-$i.iso" "${args[@]}"
		t1=${EPOCHREALTIME/./}
		create_vmgenie "$work/vmgenie-out/seed-$i.iso" "${args[@]}"
		t2=${EPOCHREALTIME/./}
		localds_us=$((localds_us + t1 - t0))
		vmgenie_us=$((vmgenie_us + t2 - t1))
	fi
done

echo "== checking the images"
for dir in vmgenie-out cloud-localds-out; do
	for i in $(seq 1 "$count"); do
		iso="$work/$dir/seed-$i.iso"
		label=$(blkid -o value -s LABEL "$iso")
		if [ "$label" != cidata ]; then
			echo "bench-seed: $dir/seed-$i.iso has label \"$label\", want cidata" >&2
			exit 1
		fi
		for f in user-data meta-data; do
			if ! isoinfo -R -i "$iso" -x "/$f" | cmp -s - "$work/in/$f-$i"; then
				echo "bench-seed: $dir/seed-$i.iso: $f differs from the input" >&2
				exit 1
			fi
		done
	done
done
vmgenie_size=$(stat -c %s "$work/vmgenie-out/seed-1.iso")
localds_size=$(stat -c %s "$work/cloud-localds-out/seed-1.iso")

awk -v n="$count" -v a="$vmgenie_us" -v b="$localds_us" -v sa="$vmgenie_size" -v sb="$localds_size" 'BEGIN {
	printf "%-22s %10s %14s %12s\n", "tool", "total (s)", "per seed (ms)", "image bytes"
	printf "%-22s %10.3f %14.2f %12d\n", "vmgenie seed create", a / 1e6, a / n / 1e3, sa
	printf "%-22s %10.3f %14.2f %12d\n", "cloud-localds", b / 1e6, b / n / 1e3, sb
	printf "ratio (cloud-localds / vmgenie per seed): %.1fx\n", b / a
}'
echo "seeds: $count, all images checked with blkid and isoinfo"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
