# Describes one VM.
# Input: {id}. Output: the VM description of Get-GenieVMInfo.
param($In)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

return (Get-GenieVMInfo (Get-GenieVM $In.id))
