# Reports the guest's IP addresses as key-value pair exchange fills them in
# IPAddresses. When there are none, it also reports the neighbour table
# entries for the adapter's MAC address.
# Input: {id, kvp_service_id}.
# Output: {state, mac, kvp_addresses: [ip], neighbors: [{ip, state}],
# kvp_enabled, kvp_status}.
param($In)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

$vm = Get-GenieVM $In.id
$addresses = New-Object System.Collections.ArrayList
$mac = ''
foreach ($adapter in @(Hyper-V\Get-VMNetworkAdapter -VM $vm)) {
    if (-not $mac) {
        $mac = [string]$adapter.MacAddress
    }
    foreach ($address in @($adapter.IPAddresses)) {
        if ($address) {
            [void]$addresses.Add([string]$address)
        }
    }
}

$neighbors = New-Object System.Collections.ArrayList
if ($addresses.Count -eq 0 -and $mac.Length -eq 12) {
    # Get-NetNeighbor spells MAC addresses as 00-15-5D-01-02-03.
    $pairs = New-Object System.Collections.ArrayList
    for ($i = 0; $i -lt 12; $i += 2) {
        [void]$pairs.Add($mac.Substring($i, 2))
    }
    $dashed = ($pairs -join '-').ToUpperInvariant()
    foreach ($entry in @(NetTCPIP\Get-NetNeighbor -LinkLayerAddress $dashed -ErrorAction SilentlyContinue)) {
        $neighbor = [ordered]@{
            ip    = [string]$entry.IPAddress
            state = $entry.State.ToString()
        }
        [void]$neighbors.Add($neighbor)
    }
}

$kvpEnabled = $false
$kvpStatus = ''
$suffix = '\' + [string]$In.kvp_service_id
foreach ($service in @(Hyper-V\Get-VMIntegrationService -VM $vm)) {
    if (([string]$service.Id).EndsWith($suffix, [StringComparison]::OrdinalIgnoreCase)) {
        $kvpEnabled = [bool]$service.Enabled
        $kvpStatus = [string]$service.PrimaryStatusDescription
    }
}

return [ordered]@{
    state         = $vm.State.ToString()
    mac           = $mac
    kvp_addresses = @($addresses)
    neighbors     = @($neighbors)
    kvp_enabled   = $kvpEnabled
    kvp_status    = $kvpStatus
}
