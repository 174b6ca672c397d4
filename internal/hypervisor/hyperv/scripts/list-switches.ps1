# Lists the virtual switches of this host.
# Input: {}. Output: {switches: [{id, name, type}]}.
param($In)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

$switches = New-Object System.Collections.ArrayList
foreach ($switch in @(Hyper-V\Get-VMSwitch)) {
    $entry = [ordered]@{
        id   = $switch.Id.ToString()
        name = [string]$switch.Name
        type = $switch.SwitchType.ToString()
    }
    [void]$switches.Add($entry)
}
return [ordered]@{ switches = @($switches) }
