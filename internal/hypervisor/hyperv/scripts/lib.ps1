# Shared functions of the two vmgenie PowerShell runners, host.ps1 (one
# long-lived process) and oneshot.ps1 (one process per call). The Go driver
# puts this file in front of the runner text. Windows PowerShell 5.1 is the
# baseline, so the scripts avoid the ??, ?: and ?. operators of PowerShell 7.

function ConvertTo-GenieJson {
    # Serializes Value as one line of JSON. Every non-ASCII UTF-16 code unit
    # becomes a \uXXXX escape, so the console code page cannot alter a name
    # such as 'Przełącznik domyślny' on its way to the driver.
    param($Value)
    $json = ConvertTo-Json -InputObject $Value -Depth 10 -Compress
    $builder = New-Object System.Text.StringBuilder
    foreach ($ch in $json.ToCharArray()) {
        $code = [int]$ch
        if ($code -lt 128) {
            [void]$builder.Append($ch)
        } else {
            [void]$builder.Append('\u')
            [void]$builder.Append($code.ToString('x4'))
        }
    }
    return $builder.ToString()
}

function New-GenieException {
    # Returns an exception whose kind the driver maps to its error kinds:
    # not_found, conflict, invalid_state or invalid_input.
    param([string]$Kind, [string]$Message)
    $exception = New-Object System.InvalidOperationException -ArgumentList $Message
    $exception.Data['vmgenie.kind'] = $Kind
    return $exception
}

function New-GenieError {
    # Converts an ErrorRecord into the error object of a response.
    param($ErrorRecord)
    $exception = $ErrorRecord.Exception
    $kind = 'failed'
    if ($exception.Data.Contains('vmgenie.kind')) {
        $kind = [string]$exception.Data['vmgenie.kind']
    }
    $position = ''
    if ($null -ne $ErrorRecord.InvocationInfo) {
        $position = [string]$ErrorRecord.InvocationInfo.PositionMessage
    }
    return [ordered]@{
        kind     = $kind
        message  = [string]$exception.Message
        type     = $exception.GetType().FullName
        category = [string]$ErrorRecord.CategoryInfo.Category
        error_id = [string]$ErrorRecord.FullyQualifiedErrorId
        position = $position
    }
}

function Invoke-GenieRequest {
    # Runs one request, an object with id, op, script and input, and returns
    # the response object. The script text is the driver's embedded script;
    # the input travels only as data, as the script's $In parameter.
    param($Request, $Compiled)
    $id = 0
    try {
        $id = [long]$Request.id
        $text = [string]$Request.script
        $block = $Compiled[$text]
        if ($null -eq $block) {
            $block = [ScriptBlock]::Create($text)
            $Compiled[$text] = $block
        }
        # Warnings (3), verbose (4) and information (6) records join the
        # output, so the console host never prints them into the JSON stream.
        $records = @(& $block $Request.input 3>&1 4>&1 6>&1)
        $messages = New-Object System.Collections.ArrayList
        $results = New-Object System.Collections.ArrayList
        foreach ($record in $records) {
            if ($record -is [System.Management.Automation.WarningRecord]) {
                [void]$messages.Add('warning: ' + $record.Message)
            } elseif ($record -is [System.Management.Automation.VerboseRecord]) {
                [void]$messages.Add('verbose: ' + $record.Message)
            } elseif ($record -is [System.Management.Automation.InformationRecord]) {
                [void]$messages.Add('information: ' + [string]$record.MessageData)
            } else {
                [void]$results.Add($record)
            }
        }
        $result = $null
        if ($results.Count -gt 0) {
            $result = $results[$results.Count - 1]
        }
        return [ordered]@{
            id           = $id
            ok           = $true
            result       = $result
            stray_output = [Math]::Max(0, $results.Count - 1)
            messages     = @($messages)
        }
    } catch {
        return [ordered]@{
            id    = $id
            ok    = $false
            error = (New-GenieError $_)
        }
    }
}

function Get-GenieVM {
    # Returns the VM with the given Id. Names are wildcards in Hyper-V's
    # cmdlets and can repeat, so the driver addresses VMs by Id only.
    param([string]$Id)
    $guid = [guid]::Empty
    if (-not [guid]::TryParse($Id, [ref]$guid)) {
        throw (New-GenieException 'not_found' ('no VM with id {0}: the id is not a GUID' -f $Id))
    }
    try {
        return (Hyper-V\Get-VM -Id $guid)
    } catch {
        # The error for an unknown Id differs between Hyper-V versions, so
        # the full list decides whether the VM is missing.
        $failure = $_
        $found = @(Hyper-V\Get-VM | Where-Object { $_.Id -eq $guid })
        if ($found.Count -eq 0) {
            throw (New-GenieException 'not_found' ('no VM with id {0}' -f $Id))
        }
        throw $failure
    }
}

function Get-GenieVMInfo {
    # Returns the description of a VM that every VM script reports.
    param($VM)
    $iso = ''
    $drives = @(Hyper-V\Get-VMDvdDrive -VM $VM)
    if ($drives.Count -gt 0 -and $drives[0].Path) {
        $iso = [string]$drives[0].Path
    }
    $mac = ''
    $switchId = ''
    $adapters = @(Hyper-V\Get-VMNetworkAdapter -VM $VM)
    if ($adapters.Count -gt 0) {
        $mac = [string]$adapters[0].MacAddress
        $switchId = [string]$adapters[0].SwitchId
    }
    return [ordered]@{
        id                   = $VM.Id.ToString()
        name                 = [string]$VM.Name
        state                = $VM.State.ToString()
        status               = [string]$VM.Status
        generation           = [int]$VM.Generation
        cpus                 = [int]$VM.ProcessorCount
        memory_startup_bytes = [long]$VM.MemoryStartup
        dynamic_memory       = [bool]$VM.DynamicMemoryEnabled
        iso                  = $iso
        mac                  = $mac
        switch_id            = $switchId
        path                 = [string]$VM.Path
    }
}
