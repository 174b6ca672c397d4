# Pauses a running VM in memory (Hyper-V state Paused, not Saved).
# Input: {id}. Output: the VM description of Get-GenieVMInfo.
param($In)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

$vm = Get-GenieVM $In.id
Hyper-V\Suspend-VM -VM $vm
return (Get-GenieVMInfo (Get-GenieVM $In.id))
