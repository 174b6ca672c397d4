# Removes a VM from Hyper-V and reports its disk paths; the driver deletes
# the files. A VM that is not Off or Saved is turned off first when force is
# set, and rejected otherwise, as Remove-VM rejects a running VM.
# Input: {id, force}. Output: {disks: [path], turned_off}.
param($In)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

$vm = Get-GenieVM $In.id
$state = $vm.State.ToString()
$turnedOff = $false
if ($state -ne 'Off' -and $state -ne 'Saved') {
    if (-not $In.force) {
        throw (New-GenieException 'invalid_state' ('the VM is {0}; stop it before deleting it' -f $state))
    }
    Hyper-V\Stop-VM -VM $vm -TurnOff -Force
    $turnedOff = $true
}
$disks = New-Object System.Collections.ArrayList
foreach ($drive in @(Hyper-V\Get-VMHardDiskDrive -VM $vm)) {
    if ($drive.Path) {
        [void]$disks.Add([string]$drive.Path)
    }
}
Hyper-V\Remove-VM -VM $vm -Force
return [ordered]@{
    disks      = @($disks)
    turned_off = $turnedOff
}
