# Puts an ISO image into the VM's DVD drive, or ejects the medium when path
# is empty. It works in any VM state.
# Input: {id, path}. Output: the VM description of Get-GenieVMInfo.
param($In)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

$vm = Get-GenieVM $In.id
$drives = @(Hyper-V\Get-VMDvdDrive -VM $vm)
if ($drives.Count -eq 0) {
    if ($In.path) {
        Hyper-V\Add-VMDvdDrive -VM $vm -Path $In.path
    }
} elseif ($In.path) {
    Hyper-V\Set-VMDvdDrive -VMDvdDrive $drives[0] -Path $In.path
} else {
    Hyper-V\Set-VMDvdDrive -VMDvdDrive $drives[0] -Path $null
}
return (Get-GenieVMInfo (Get-GenieVM $In.id))
