#!/usr/bin/env bash
# Runs the whole vmgenie test suite: installs what the tests need, vets the
# code for Linux and Windows, then runs every Go test.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh xorriso genisoimage util-linux cloud-init cloud-image-utils \
	qemu-system-x86 qemu-utils ovmf systemd nodejs make g++ python3 mmdebstrap e2fsprogs
# Debian ships npm apart from nodejs; other node builds bundle it.
command -v npm >/dev/null || scripts/deps.sh npm

echo "== go vet (linux)"
go vet ./...
echo "== go vet (windows)"
GOOS=windows go vet ./...
echo "== go vet (darwin, hypervisor drivers)"
GOOS=darwin go vet ./internal/hypervisor/...

echo "== go test -c (windows, Hyper-V driver)"
wintest=$(mktemp -d)
GOOS=windows go test -c -o "$wintest" ./internal/hypervisor/hyperv/...
rm -rf "$wintest"

echo "== Windows tests under Wine"
scripts/test-windows.sh

echo "== PowerShell scripts parse (tree-sitter-powershell)"
(cd tools/psparse && npm ci --no-audit --no-fund) && node tools/psparse/check.js internal/hypervisor/hyperv/scripts/*.ps1
windows_ps=(powershell/VmGenie/VmGenie.psm1 powershell/VmGenie/VmGenie.psd1 bin/*.ps1)
node tools/psparse/check.js "${windows_ps[@]}"
echo "== VmGenie module and Windows scripts: PowerShell 5.1 syntax, manifest and cmdlet rules"
node tools/psparse/compat.js "${windows_ps[@]}"
node tools/psparse/module.js powershell/VmGenie/VmGenie.psd1 Invoke-VmGenie Get-GenieStatus Get-GenieVm \
	New-GenieVm Start-GenieVm Stop-GenieVm Suspend-GenieVm Resume-GenieVm Remove-GenieVm Connect-GenieVm Get-GenieTemplate

# Packages that boot VMs run one at a time, so that their TCG guests do not
# compete with each other for the CPU.
vm_packages=(./internal/testimage ./internal/hypervisor/qemu ./internal/e2e)
echo "== go test (unit, integration and real tools)"
mapfile -t other < <(go list ./... | grep -v -e '/internal/testimage$' -e '/internal/hypervisor/qemu$' -e '/internal/e2e$')
go test -count=1 -timeout 30m "${other[@]}"
echo "== go test (real VMs under QEMU)"
go test -count=1 -p 1 -timeout 60m "${vm_packages[@]}"
