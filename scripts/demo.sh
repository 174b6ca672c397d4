#!/usr/bin/env bash
# Runs vmgenie's main job on this machine: builds vmgenie, starts the service
# in user mode, builds (or reuses) the Debian 12 test image, provisions the VM
# "demo" from the Debian 12 template with QEMU, waits for cloud-init, and runs
# hostname and id in the guest over SSH.
#
# State lives in $VMGENIE_DEMO_DIR (default ~/.local/share/vmgenie-demo): the
# service's config, data, log and socket, so the demo never touches another
# vmgenie service or its VMs. The service keeps running afterwards, so that
# connect and delete work. The guest runs with QEMU user networking
# restrict=on: it reaches nothing but the SSH port forward on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

scripts/deps.sh qemu-system-x86 qemu-utils mmdebstrap e2fsprogs openssh-client

echo "== building vmgenie"
go build -o bin/vmgenie ./cmd/vmgenie
vmgenie=$repo/bin/vmgenie

demo_dir=${VMGENIE_DEMO_DIR:-$HOME/.local/share/vmgenie-demo}
mkdir -p "$demo_dir"
socket=$demo_dir/vmgenie.sock
export VMGENIE_SOCKET=$socket
cat >"$demo_dir/config.yml" <<CONFIG
data_dir: $demo_dir/data
socket: $socket
log:
  file: $demo_dir/service.log
driver: qemu
qemu:
  restrict_network: true
provision:
  ssh_timeout: 10m
  cloud_init_timeout: 15m
CONFIG

if "$vmgenie" status >/dev/null 2>&1; then
	echo "== the demo's vmgenie service is already running; using it"
else
	echo "== starting the vmgenie service (log: $demo_dir/service.log)"
	setsid "$vmgenie" serve --user --config "$demo_dir/config.yml" --socket "$socket" </dev/null >>"$demo_dir/serve.out" 2>&1 &
	echo $! >"$demo_dir/service.pid"
	for _ in $(seq 1 100); do
		"$vmgenie" status >/dev/null 2>&1 && break
		sleep 0.1
	done
	"$vmgenie" status
fi

echo "== building or reusing the Debian 12 test image"
# The image build needs root (mmdebstrap and file ownership in the image).
cache=${VMGENIE_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vmgenie/test-images}
if [ "$(id -u)" -eq 0 ]; then
	image_dir=$(VMGENIE_IMAGE_CACHE=$cache scripts/build-test-image.sh | tail -n 1)
else
	image_dir=$(sudo env VMGENIE_IMAGE_CACHE="$cache" scripts/build-test-image.sh | tail -n 1)
fi
if ! "$vmgenie" image list -o json | grep -q '"name": "debian-12"'; then
	cmdline=$(sed -n 's/^ *"cmdline": "\(.*\)",\{0,1\}$/\1/p' "$image_dir/image.json")
	"$vmgenie" image import debian-12 "$image_dir/disk.raw" --os debian --version 12 \
		--kernel "$image_dir/vmlinuz" --initrd "$image_dir/initrd.img" --cmdline "$cmdline"
fi

if "$vmgenie" details demo >/dev/null 2>&1; then
	echo "== deleting the VM demo left by an earlier run"
	"$vmgenie" delete --force demo
fi

echo "== provisioning demo from the Debian 12 template"
"$vmgenie" provision demo --os debian --version 12

echo "== running hostname and id in the guest over SSH"
echo "hostname: $("$vmgenie" exec demo -- hostname)"
echo "id:       $("$vmgenie" exec demo -- id)"
echo
echo "The service runs on in the background (pid file $demo_dir/service.pid, log $demo_dir/service.log)."
echo "Log in with: VMGENIE_SOCKET=$socket bin/vmgenie connect demo"
echo "Remove the VM with: VMGENIE_SOCKET=$socket bin/vmgenie delete --force demo"
