# Describes the VMs with the given Ids that exist; missing Ids are left out.
# Input: {ids: [id]}. Output: {vms: [VM description]}.
param($In)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

$wanted = @{}
foreach ($id in @($In.ids)) {
    $wanted[([string]$id).ToLowerInvariant()] = $true
}
$vms = New-Object System.Collections.ArrayList
foreach ($vm in @(Hyper-V\Get-VM)) {
    if ($wanted.ContainsKey($vm.Id.ToString().ToLowerInvariant())) {
        [void]$vms.Add((Get-GenieVMInfo $vm))
    }
}
return [ordered]@{ vms = @($vms) }
