# Discards the saved memory of a Saved VM, which leaves it Off.
# Input: {id}. Output: the VM description of Get-GenieVMInfo.
param($In)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

$vm = Get-GenieVM $In.id
Hyper-V\Remove-VMSavedState -VM $vm
return (Get-GenieVMInfo (Get-GenieVM $In.id))
