#!/usr/bin/env bash
# Runs a Windows program under Wine in the test prefix. "go test -exec"
# calls it with the test binary and its flags; scripts/test-windows.sh sets
# WINEPREFIX and the other Wine variables first.
# Usage: scripts/wine-exec.sh PROGRAM.exe [ARG...]
set -euo pipefail
: "${WINEPREFIX:?set WINEPREFIX to the test prefix; scripts/test-windows.sh does}"
export WINEDEBUG=${WINEDEBUG:--all}
export DISPLAY=
exec wine "$@"
