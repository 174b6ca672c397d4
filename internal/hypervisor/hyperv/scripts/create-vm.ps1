# Creates a VM on a differencing disk and leaves it Off. On failure it
# removes the VM and the disk it made, then rethrows the error.
# Input: {name, vm_path, disk, base, disk_bytes, generation, cpus,
# memory_bytes, dynamic_memory: {enabled, minimum_bytes, maximum_bytes},
# iso, switch_id, mac, secure_boot: {enabled, template_id, template_name},
# kvp_service_id, com1_pipe, notes}.
# Output: the VM description of Get-GenieVMInfo plus automatic_checkpoints
# ("disabled" or "unsupported") and secure_boot_template ("id", "name" or "").
param($In)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

$sameName = @(Hyper-V\Get-VM | Where-Object { $_.Name -eq $In.name })
if ($sameName.Count -gt 0) {
    throw (New-GenieException 'conflict' ('Hyper-V already has a VM named {0} (id {1})' -f $In.name, $sameName[0].Id))
}

$switch = $null
try {
    $switch = Hyper-V\Get-VMSwitch -Id ([guid]$In.switch_id)
} catch {
    throw (New-GenieException 'invalid_input' ('no virtual switch with id {0}: {1}' -f $In.switch_id, $_.Exception.Message))
}

$vm = $null
$diskCreated = $false
try {
    # The VM writes only to its differencing disk; the base stays untouched.
    $parent = Hyper-V\Get-VHD -Path $In.base
    [void](Hyper-V\New-VHD -Path $In.disk -ParentPath $In.base -Differencing)
    $diskCreated = $true
    if ([long]$In.disk_bytes -gt [long]$parent.Size) {
        Hyper-V\Resize-VHD -Path $In.disk -SizeBytes ([long]$In.disk_bytes)
    }

    $vm = Hyper-V\New-VM -Name $In.name -Generation ([int]$In.generation) -MemoryStartupBytes ([long]$In.memory_bytes) -VHDPath $In.disk -Path $In.vm_path -BootDevice VHD

    # The adapter is connected to the switch object found by its Id, because
    # switch names are translated and may repeat.
    $adapter = @(Hyper-V\Get-VMNetworkAdapter -VM $vm)[0]
    Hyper-V\Connect-VMNetworkAdapter -VMNetworkAdapter $adapter -VMSwitch $switch
    Hyper-V\Set-VMNetworkAdapter -VMNetworkAdapter $adapter -StaticMacAddress $In.mac

    Hyper-V\Set-VMProcessor -VM $vm -Count ([long]$In.cpus)
    if ($In.dynamic_memory.enabled) {
        Hyper-V\Set-VMMemory -VM $vm -DynamicMemoryEnabled $true -StartupBytes ([long]$In.memory_bytes) -MinimumBytes ([long]$In.dynamic_memory.minimum_bytes) -MaximumBytes ([long]$In.dynamic_memory.maximum_bytes)
    } else {
        Hyper-V\Set-VMMemory -VM $vm -DynamicMemoryEnabled $false -StartupBytes ([long]$In.memory_bytes)
    }

    # Generation 1 VMs come with a DVD drive at IDE 1:0; Generation 2 VMs
    # get one on the SCSI controller. An empty drive is still added, so a
    # later swap has a drive to put the medium in.
    $drives = @(Hyper-V\Get-VMDvdDrive -VM $vm)
    if ($drives.Count -eq 0) {
        if ($In.iso) {
            Hyper-V\Add-VMDvdDrive -VM $vm -Path $In.iso
        } else {
            Hyper-V\Add-VMDvdDrive -VM $vm
        }
    } elseif ($In.iso) {
        Hyper-V\Set-VMDvdDrive -VMDvdDrive $drives[0] -Path $In.iso
    }

    $template = ''
    $disk = @(Hyper-V\Get-VMHardDiskDrive -VM $vm)[0]
    if ([int]$In.generation -eq 2) {
        if ($In.secure_boot.enabled) {
            $firmware = @{ VM = $vm; EnableSecureBoot = 'On'; FirstBootDevice = $disk }
            # SecureBootTemplateId is missing on older hosts, which only
            # take the template's name.
            $parameters = (Get-Command -Name 'Hyper-V\Set-VMFirmware').Parameters
            if ($parameters.ContainsKey('SecureBootTemplateId')) {
                $firmware['SecureBootTemplateId'] = [guid]$In.secure_boot.template_id
                $template = 'id'
            } else {
                $firmware['SecureBootTemplate'] = [string]$In.secure_boot.template_name
                $template = 'name'
            }
            Hyper-V\Set-VMFirmware @firmware
        } else {
            Hyper-V\Set-VMFirmware -VM $vm -EnableSecureBoot Off -FirstBootDevice $disk
        }
    } else {
        Hyper-V\Set-VMBios -VM $vm -StartupOrder @('IDE', 'CD', 'LegacyNetworkAdapter', 'Floppy')
    }

    # Integration service names are translated, so key-value pair exchange
    # is matched by the GUID at the end of its Id.
    $suffix = '\' + [string]$In.kvp_service_id
    $kvp = @(Hyper-V\Get-VMIntegrationService -VM $vm | Where-Object { ([string]$_.Id).EndsWith($suffix, [StringComparison]::OrdinalIgnoreCase) })
    if ($kvp.Count -eq 0) {
        throw (New-GenieException 'failed' ('the VM has no integration service with id {0} (key-value pair exchange)' -f $In.kvp_service_id))
    }
    Hyper-V\Enable-VMIntegrationService -VMIntegrationService $kvp[0]

    # Windows Server 2016 lacks AutomaticCheckpointsEnabled.
    $checkpoints = 'unsupported'
    if ((Get-Command -Name 'Hyper-V\Set-VM').Parameters.ContainsKey('AutomaticCheckpointsEnabled')) {
        Hyper-V\Set-VM -VM $vm -AutomaticCheckpointsEnabled $false
        $checkpoints = 'disabled'
    }

    Hyper-V\Set-VMComPort -VM $vm -Number 1 -Path $In.com1_pipe
    Hyper-V\Set-VM -VM $vm -Notes $In.notes

    $info = Get-GenieVMInfo (Get-GenieVM $vm.Id.ToString())
    $info['automatic_checkpoints'] = $checkpoints
    $info['secure_boot_template'] = $template
    return $info
} catch {
    $failure = $_
    if ($null -ne $vm) {
        try {
            Hyper-V\Remove-VM -VM $vm -Force
        } catch {
            Write-Warning ('removing the half-created VM {0} failed: {1}' -f $vm.Id, $_.Exception.Message)
        }
    }
    if ($diskCreated) {
        try {
            Remove-Item -LiteralPath $In.disk -Force
        } catch {
            Write-Warning ('removing the disk {0} failed: {1}' -f $In.disk, $_.Exception.Message)
        }
    }
    throw $failure
}
