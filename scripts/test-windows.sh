#!/usr/bin/env bash
# Runs vmgenie's Windows tests on Linux under Wine: the named pipe
# transport, the service and client over the pipe, the data directory ACL,
# and a Windows service install, start, query, stop and delete.
#
# Each run works in a fresh copy of a Wine prefix. The prefix is built once
# (wineboot takes about 10 s) and cached under
# ${XDG_CACHE_HOME:-~/.cache}/vmgenie-test/wine, keyed by the Wine version
# and the shim's source, because a rerun must not see the services and files
# of the previous one. GO_TEST_FLAGS adds flags to go test, such as -v.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

scripts/deps.sh wine wine64 gcc-mingw-w64-x86-64-win32

export WINEDEBUG=-all DISPLAY= WINEARCH=win64
# Go's Windows runtime loads ProcessPrng from bcryptprimitives.dll at start
# (runtime/os_windows.go, loadOptionalSyscalls) and aborts without it. Wine
# 8.0 has no such DLL, so the prefix gets the test-only shim below.
shim_source=tools/wineshim/bcryptprimitives.c

wine_version=$(wine --version)
shim_hash=$(sha256sum "$shim_source" | cut -c1-12)
cache_key=$(printf '%s-%s' "$wine_version" "$shim_hash" | tr -c 'A-Za-z0-9.\n-' '_')
cache_root=${XDG_CACHE_HOME:-$HOME/.cache}/vmgenie-test/wine
cache_dir=$cache_root/$cache_key
base_prefix=$cache_dir/prefix

if [ ! -f "$cache_dir/ready" ]; then
	echo "== building the Wine prefix ($wine_version) in $cache_dir"
	# A prefix is about 700 MB; those of other Wine versions or shims go.
	rm -rf "$cache_root"
	mkdir -p "$cache_dir"
	WINEPREFIX=$base_prefix wine wineboot -i >/dev/null 2>&1
	x86_64-w64-mingw32-gcc -shared -O2 -Wall -Wextra -Werror \
		-o "$base_prefix/drive_c/windows/system32/bcryptprimitives.dll" "$shim_source" -lbcrypt
	WINEPREFIX=$base_prefix wineserver -w
	touch "$cache_dir/ready"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/vmgenie-wine.XXXXXX")
export WINEPREFIX=$work/prefix
cleanup() {
	wineserver -k >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
cp -a "$base_prefix" "$WINEPREFIX"

echo "== Wine prefix $WINEPREFIX ($wine_version)"

export GOOS=windows GOARCH=amd64
GOOS=windows go build -o "$work/vmgenie.exe" ./cmd/vmgenie
VMGENIE_TEST_EXE=$(winepath -w "$work/vmgenie.exe")
export VMGENIE_TEST_EXE

run=(go test -count=1 -p 1 -timeout 10m ${GO_TEST_FLAGS:-} -exec "$root/scripts/wine-exec.sh")
status=0
echo "== go test under Wine: transport, client, winacl, winsvc"
"${run[@]}" ./internal/transport ./internal/client ./internal/winacl ./internal/winsvc || status=1
# The other tests of internal/service use Unix sockets; only the TestPipe
# tests are written for the named pipe.
echo "== go test under Wine: service over the named pipe"
"${run[@]}" -run '^TestPipe' ./internal/service || status=1
exit $status
