#!/usr/bin/env bash
# Builds the Debian 12 test guest image: a cloud-init guest made from Debian
# packages with mmdebstrap, booted directly from its own kernel and initrd.
#
# Usage: scripts/build-test-image.sh [--out DIR] [--force]
#
#   --out DIR   write the image to DIR instead of the cache directory
#   --force     rebuild even when a finished image is already there
#
# The default image directory is
#   ${VMGENIE_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vmgenie/test-images}/debian-12-<hash>
# where <hash> is the first 16 hex digits of this script's SHA-256, so any
# change to the script starts a new image and reruns reuse the old one.
#
# VMGENIE_DEBIAN_MIRROR overrides the Debian mirror URL. By default the
# script uses the bookworm sources that apt on this machine is configured
# with, because a build machine may reach no other mirror.
#
# Progress goes to stderr. The last line of stdout is the image directory.
# The directory contains disk.raw (ext4 labelled "rootfs", no partition
# table), vmlinuz, initrd.img and image.json; docs/test-image.md describes
# them.
set -euo pipefail

readonly suite=bookworm
readonly disk_size=2G
readonly cmdline="root=LABEL=rootfs console=ttyS0"
# cloud-init needs e2fsprogs for resizefs, locales and dbus for its locale
# module, and tzdata for its timezone module. Without them it finishes with
# errors.
readonly packages=cloud-init,linux-image-cloud-amd64,systemd-sysv,openssh-server,udev,ifupdown,isc-dhcp-client,netbase,iproute2,sudo,python3-cffi-backend,e2fsprogs,locales,dbus,tzdata

log() {
	echo "build-test-image: $*" >&2
}

die() {
	log "error: $*"
	exit 1
}

usage() {
	sed -n '5,8p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

# run_step NAME COMMAND... runs COMMAND and logs how long it took.
run_step() {
	local name=$1
	shift
	local start end
	start=$(date +%s%N)
	"$@"
	end=$(date +%s%N)
	log "$name took $(((end - start) / 1000000)) ms"
}

# debian_sources prints one "deb URI SUITE main" line for each of bookworm,
# bookworm-updates and bookworm-security that apt on this machine uses.
debian_sources() {
	if [ -n "${VMGENIE_DEBIAN_MIRROR:-}" ]; then
		echo "deb $VMGENIE_DEBIAN_MIRROR $suite main"
		return
	fi
	apt-get indextargets --no-release-info \
		--format '$(REPO_URI) $(RELEASE)' \
		'Identifier: Packages' 'Component: main' 'Target-Of: deb' |
		awk -v suite="$suite" '
			$2 == suite || $2 == suite "-updates" || $2 == suite "-security" {
				uri = $1
				sub(/\/$/, "", uri)
				line = "deb " uri " " $2 " main"
				if (!(line in seen)) { seen[line] = 1; print line }
			}'
}

# scratch_dir BUILD creates and prints a directory for the unpacked system.
# It prefers /dev/shm: dpkg's fsync calls cost nothing on tmpfs, and the
# unpacked system (about 600 MiB with the apt cache) is deleted right after
# mkfs.ext4 copies it. Maintainer scripts run inside the chroot, so the
# mount must allow executables and device nodes.
scratch_dir() {
	local build=$1
	local free_kib options
	free_kib=$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 }')
	options=$(findmnt -no OPTIONS --target /dev/shm 2>/dev/null || echo noexec)
	if [ -w /dev/shm ] && [ "${free_kib:-0}" -ge $((2 * 1024 * 1024)) ] &&
		! [[ ,$options, =~ ,(noexec|nodev), ]]; then
		mktemp -d /dev/shm/vmgenie-test-image.XXXXXX
	else
		mkdir "$build/scratch"
		echo "$build/scratch"
	fi
}

# unmount_under DIR detaches every mount below DIR, deepest first. A killed
# mmdebstrap can leave /proc, /sys and bind mounts of the host's /dev inside
# the chroot.
unmount_under() {
	local dir=$1 mount
	awk -v prefix="$dir/" 'index($2, prefix) == 1 { print $2 }' /proc/self/mounts |
		tac | while IFS= read -r mount; do
		umount --lazy "$mount" || log "failed to unmount $mount"
	done
}

# remove_build_dirs deletes the partial build. It refuses to delete a
# directory that still has mounts below it, because a bind mount of the
# host's /dev or /dev/shm is on the same file system and rm would descend
# into it.
remove_build_dirs() {
	local dir
	for dir in ${scratch:+"$scratch"} ${build:+"$build"}; do
		unmount_under "$dir"
		if awk -v prefix="$dir/" 'index($2, prefix) == 1 { found = 1 } END { exit !found }' /proc/self/mounts; then
			log "error: mounts remain below $dir, so it was not removed; unmount them and delete it by hand"
			continue
		fi
		rm -rf --one-file-system "$dir"
	done
}

# customize_rootfs ROOT prepares the unpacked system for cloud-init NoCloud
# and direct kernel boot.
customize_rootfs() {
	local root=$1

	# mmdebstrap copies these two files from the build machine.
	echo localhost >"$root/etc/hostname"
	rm -f "$root/etc/resolv.conf"

	# Each guest must get its own identity on first boot: systemd fills an
	# empty machine-id, and cloud-init's ssh module generates host keys.
	: >"$root/etc/machine-id"
	rm -f "$root"/etc/ssh/ssh_host_*

	echo "LABEL=rootfs / ext4 defaults,errors=remount-ro 0 1" >"$root/etc/fstab"

	# e2scrub_reap cleans up LVM snapshots, which this guest never has, and
	# costs several seconds of CPU at every boot under TCG.
	ln -sf /dev/null "$root/etc/systemd/system/e2scrub_reap.service"

	# Read only the NoCloud seed (a disk labelled cidata), so boot does not
	# wait on network datasources. manage_etc_hosts maps the guest's
	# hostname to 127.0.1.1, so sudo need not query DNS for it.
	# DSA host keys are deprecated, and generating them under TCG costs boot
	# time.
	cat >"$root/etc/cloud/cloud.cfg.d/90_vmgenie.cfg" <<-'EOF'
		datasource_list: [ NoCloud, None ]
		manage_etc_hosts: true
		ssh_genkeytypes: [ ed25519, ecdsa, rsa ]
	EOF

	# cloud-init's locale module defaults to en_US.UTF-8. Debian's locale-gen
	# ignores its arguments and builds only what /etc/locale.gen enables, so
	# without this step update-locale rejects the locale and cloud-init
	# finishes with an error. A pre-built default also saves boot time.
	sed -i 's/^# *\(en_US.UTF-8 UTF-8\)$/\1/' "$root/etc/locale.gen"
	grep -qx 'en_US.UTF-8 UTF-8' "$root/etc/locale.gen" || die "en_US.UTF-8 not found in $root/etc/locale.gen"
	chroot "$root" locale-gen >&2
	echo "LANG=en_US.UTF-8" >"$root/etc/default/locale"

	# With no network-config in the seed, cloud-init renders DHCP on the
	# first NIC to /etc/network/interfaces.d/50-cloud-init for ifupdown.
	# The stock interfaces file already sources that directory.
	grep -q '^source /etc/network/interfaces.d/' "$root/etc/network/interfaces" ||
		die "$root/etc/network/interfaces does not source interfaces.d, so cloud-init's network config would be ignored"
}

# write_disk ROOT DIR writes DIR/disk.raw from ROOT without mounting it.
write_disk() {
	local root=$1 dir=$2
	mkfs.ext4 -q -F -L rootfs -d "$root" "$dir/disk.raw" "$disk_size" >&2
}

# copy_boot_files ROOT DIR copies the kernel and initrd out of ROOT and
# prints the kernel version.
copy_boot_files() {
	local root=$1 dir=$2
	local kernel
	kernel=$(readlink "$root/vmlinuz") || die "kernel symlink $root/vmlinuz not found: check that linux-image-cloud-amd64 is in the package list"
	kernel=${kernel##*/vmlinuz-}
	cp "$root/boot/vmlinuz-$kernel" "$dir/vmlinuz"
	cp "$root/boot/initrd.img-$kernel" "$dir/initrd.img"
	echo "$kernel"
}

# write_metadata DIR KERNEL_VERSION SCRIPT_SHA256 writes DIR/image.json.
write_metadata() {
	local dir=$1 kernel_version=$2 script_sha256=$3
	cat >"$dir/image.json" <<-EOF
		{
		  "os": "debian",
		  "version": "12",
		  "disk": "disk.raw",
		  "format": "raw",
		  "kernel": "vmlinuz",
		  "initrd": "initrd.img",
		  "cmdline": "$cmdline",
		  "kernel_version": "$kernel_version",
		  "script_sha256": "$script_sha256",
		  "built_at": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		}
	EOF
}

# image_is_current DIR SCRIPT_SHA256 succeeds when DIR contains a finished image
# built by this version of the script.
image_is_current() {
	local dir=$1 script_sha256=$2
	[ -f "$dir/image.json" ] && grep -q "\"script_sha256\": \"$script_sha256\"" "$dir/image.json"
}

main() {
	local out="" force=0
	while [ $# -gt 0 ]; do
		case $1 in
		--out)
			[ $# -ge 2 ] || die "missing directory after --out"
			out=$2
			shift 2
			;;
		--force)
			force=1
			shift
			;;
		-h | --help) usage ;;
		*)
			log "unknown argument: $1"
			usage
			;;
		esac
	done

	local script script_sha256
	script=$(readlink -f "${BASH_SOURCE[0]}")
	script_sha256=$(sha256sum "$script" | cut -d' ' -f1)
	if [ -z "$out" ]; then
		local cache=${VMGENIE_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vmgenie/test-images}
		out="$cache/debian-12-${script_sha256:0:16}"
	fi
	out=$(realpath -m "$out")
	local parent
	parent=$(dirname "$out")

	if [ "$force" -eq 0 ] && image_is_current "$out" "$script_sha256"; then
		log "using cached image"
		echo "$out"
		return
	fi

	[ "$(id -u)" -eq 0 ] || die "must run as root, because mmdebstrap's root mode and mkfs.ext4 -d keep file owners only as root. Run it with sudo"
	local tool
	for tool in mmdebstrap mkfs.ext4 apt-get flock; do
		command -v "$tool" >/dev/null || die "$tool not found. Install it with: scripts/deps.sh mmdebstrap e2fsprogs util-linux"
	done

	mkdir -p "$parent"
	# Two test packages may ask for the image at once: the second waits here
	# and then finds the finished image.
	local lock="$parent/.$(basename "$out").lock"
	exec 9>"$lock"
	if ! flock -n 9; then
		log "waiting for another build of $out (lock $lock)"
		flock -w 1800 9 || die "timed out after 30 minutes waiting for lock $lock. Check that no build is still running"
	fi
	if [ "$force" -eq 0 ] && image_is_current "$out" "$script_sha256"; then
		log "using image built by another process"
		echo "$out"
		return
	fi

	local sources
	sources=$(debian_sources)
	[ -n "$sources" ] || die "no $suite main source in apt's configuration. Set VMGENIE_DEBIAN_MIRROR to a Debian mirror URL"
	log "building $out from:"
	local line
	while IFS= read -r line; do
		log "  $line"
	done <<<"$sources"

	# Build next to the final directory so the rename into place is atomic,
	# and remove the partial build on any failure.
	# build and scratch are global so that the EXIT trap can still read them
	# after main returns.
	scratch=""
	build=$(mktemp -d "$parent/.build-$(basename "$out").XXXXXX")
	trap remove_build_dirs EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	mkdir "$build/image"
	scratch=$(scratch_dir "$build")
	# apt downloads as the _apt user, which must be able to enter the chroot.
	chmod 755 "$scratch"

	local total_start=$SECONDS
	local -a mirrors
	mapfile -t mirrors <<<"$sources"
	run_step "mmdebstrap" mmdebstrap --mode=root --variant=apt --include="$packages" \
		"$suite" "$scratch/rootfs" "${mirrors[@]}" >&2
	run_step "customize" customize_rootfs "$scratch/rootfs"
	local kernel_version
	kernel_version=$(copy_boot_files "$scratch/rootfs" "$build/image")
	run_step "mkfs.ext4" write_disk "$scratch/rootfs" "$build/image"
	write_metadata "$build/image" "$kernel_version" "$script_sha256"
	run_step "remove rootfs" rm -rf "$scratch/rootfs"

	if [ -e "$out" ]; then
		mv "$out" "$build/old"
	fi
	mv "$build/image" "$out"
	log "built $out in $((SECONDS - total_start)) s (kernel $kernel_version)"
	echo "$out"
}

main "$@"
