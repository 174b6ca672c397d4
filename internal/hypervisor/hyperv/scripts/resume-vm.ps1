# Resumes a paused VM.
# Input: {id}. Output: the VM description of Get-GenieVMInfo.
param($In)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

$vm = Get-GenieVM $In.id
Hyper-V\Resume-VM -VM $vm
return (Get-GenieVMInfo (Get-GenieVM $In.id))
