# Starts a VM that is Off or Saved.
# Input: {id}. Output: the VM description of Get-GenieVMInfo.
param($In)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

$vm = Get-GenieVM $In.id
Hyper-V\Start-VM -VM $vm
return (Get-GenieVMInfo (Get-GenieVM $In.id))
