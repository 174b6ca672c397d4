#Requires -Version 5.1
# VmGenie: PowerShell cmdlets for the vmgenie service.
#
# The module speaks the service protocol (docs/protocol.md) directly, as any
# client may: it opens the named pipe \\.\pipe\vmgenie, writes one request
# as a line of UTF-8 JSON, reads response lines until the final one, and
# closes the connection. It runs on Windows PowerShell 5.1 and PowerShell 7,
# so it avoids the operators that 5.1 lacks (??, ?., ?:, && and ||).
#
# No value from a caller is ever placed into script text or a command line
# string: requests are built with ConvertTo-Json, and ssh.exe gets its
# arguments as an array.

Set-StrictMode -Version 2.0

# Pipe name under \\.\pipe\ that the service listens on by default.
$script:DefaultPipeName = 'vmgenie'
# Time allowed to open the pipe once it exists, in milliseconds.
$script:ConnectTimeoutMilliseconds = 5000
# Interval at which a waiting read checks for Ctrl+C and its deadline.
$script:ReadPollMilliseconds = 250

# Exception types that carry what went wrong, so that callers can branch on
# the protocol's error code: catch [VmGenie.GenieProtocolException] and read
# $_.Exception.Code.
if (-not ('VmGenie.GenieProtocolException' -as [type])) {
    Add-Type -TypeDefinition @'
namespace VmGenie
{
    // An error response of the vmgenie service.
    public class GenieProtocolException : System.Exception
    {
        public GenieProtocolException(string code, string message, string command, string requestId)
            : base(message)
        {
            Code = code;
            Command = command;
            RequestId = requestId;
        }

        // The protocol's error code, such as "not_found" or "conflict".
        public string Code { get; private set; }
        public string Command { get; private set; }
        public string RequestId { get; private set; }
    }

    // A failure to reach the service or to read its response.
    public class GenieConnectionException : System.Exception
    {
        public GenieConnectionException(string reason, string pipe, string message, System.Exception inner)
            : base(message, inner)
        {
            Reason = reason;
            Pipe = pipe;
        }

        // "not_running", "permission_denied", "timeout" or "io".
        public string Reason { get; private set; }
        public string Pipe { get; private set; }
    }
}
'@
}

#region Protocol

# Returns the pipe name to use: -Pipe, else $env:VMGENIE_SOCKET, else
# vmgenie. Both accept a bare name or the full \\.\pipe\NAME form.
function Resolve-GeniePipeName {
    param([string] $Pipe)

    $value = $Pipe
    if ([string]::IsNullOrEmpty($value)) {
        $value = $env:VMGENIE_SOCKET
    }
    if ([string]::IsNullOrEmpty($value)) {
        return $script:DefaultPipeName
    }
    $prefix = '\\.\pipe\'
    if ($value.StartsWith($prefix, [System.StringComparison]::OrdinalIgnoreCase)) {
        $value = $value.Substring($prefix.Length)
    }
    if ($value.Length -eq 0 -or $value.Contains('\')) {
        throw (New-Object System.ArgumentException("Invalid pipe '$Pipe': use a name such as vmgenie, or \\.\pipe\vmgenie.", 'Pipe'))
    }
    return $value
}

# Reports whether a pipe with the name exists, by listing \\.\pipe\, which
# opens no pipe. Returns $null when the list cannot be read.
function Test-GeniePipe {
    param([string] $Name)

    try {
        foreach ($path in [System.IO.Directory]::EnumerateFiles('\\.\pipe\')) {
            if ([string]::Equals([System.IO.Path]::GetFileName($path), $Name, [System.StringComparison]::OrdinalIgnoreCase)) {
                return $true
            }
        }
        return $false
    } catch {
        return $null
    }
}

function New-GenieConnectionError {
    param([string] $Reason, [string] $PipeName, [string] $Message, [System.Exception] $Inner)
    return (New-Object VmGenie.GenieConnectionException($Reason, "\\.\pipe\$PipeName", $Message, $Inner))
}

# Sends one request and returns the final response line as an object with
# id, command, status and data. With ProgressActivity set, each progress
# line is shown with Write-Progress under that activity. An error response
# throws VmGenie.GenieProtocolException, and a failure to
# reach the service or read from it VmGenie.GenieConnectionException.
# TimeoutSeconds 0 waits until the service answers or Ctrl+C.
function Send-GenieRequest {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)]
        [string] $Command,

        [System.Collections.IDictionary] $Parameters,

        [switch] $Stream,

        [string] $ProgressActivity,

        [string] $Pipe,

        [int] $TimeoutSeconds = 0,

        [int] $ConnectTimeoutMilliseconds = $script:ConnectTimeoutMilliseconds
    )

    if ($null -eq $Parameters) {
        $Parameters = @{}
    }
    $pipeName = Resolve-GeniePipeName -Pipe $Pipe
    $id = [guid]::NewGuid().ToString('N').Substring(0, 16)
    # [bool] matters: ConvertTo-Json in Windows PowerShell 5.1 writes a
    # [switch] as {"IsPresent": true}.
    $request = [ordered]@{
        id         = $id
        command    = $Command
        parameters = $Parameters
        stream     = [bool] $Stream
    }
    $line = ConvertTo-Json -InputObject $request -Compress -Depth 32

    if ((Test-GeniePipe -Name $pipeName) -eq $false) {
        throw (New-GenieConnectionError 'not_running' $pipeName ("The vmgenie service is not running: no pipe \\.\pipe\$pipeName exists. Start it with 'vmgenie service start' from an elevated prompt, or check it with 'vmgenie service status'.") $null)
    }

    $client = New-Object System.IO.Pipes.NamedPipeClientStream('.', $pipeName, [System.IO.Pipes.PipeDirection]::InOut, [System.IO.Pipes.PipeOptions]::Asynchronous)
    try {
        try {
            $client.Connect($ConnectTimeoutMilliseconds)
        } catch [System.TimeoutException] {
            throw (New-GenieConnectionError 'timeout' $pipeName ("Connecting to \\.\pipe\$pipeName timed out after $ConnectTimeoutMilliseconds ms: the service is busy or stopping. Try again, or check it with 'vmgenie service status'.") $_.Exception)
        } catch [System.UnauthorizedAccessException] {
            throw (New-GenieConnectionError 'permission_denied' $pipeName ("Access to \\.\pipe\$pipeName was denied: only SYSTEM, Administrators and Hyper-V Administrators may use the vmgenie service. Run PowerShell as administrator, or ask an administrator to add you to Hyper-V Administrators and log in again.") $_.Exception)
        } catch [System.IO.IOException] {
            throw (New-GenieConnectionError 'io' $pipeName ("Connecting to \\.\pipe\$pipeName failed: $($_.Exception.GetBaseException().Message)") $_.Exception)
        }

        # UTF-8 without a byte order mark, which the service would reject as
        # invalid JSON. The line ends with "\n" whatever the platform.
        $encoding = New-Object System.Text.UTF8Encoding($false)
        $bytes = $encoding.GetBytes($line + "`n")
        try {
            $client.Write($bytes, 0, $bytes.Length)
            $client.Flush()
        } catch [System.IO.IOException] {
            throw (New-GenieConnectionError 'io' $pipeName ("Sending the $Command request to \\.\pipe\$pipeName failed: $($_.Exception.GetBaseException().Message)") $_.Exception)
        }

        $reader = New-Object System.IO.StreamReader($client, $encoding, $false, 65536)
        $deadline = [DateTime]::MaxValue
        if ($TimeoutSeconds -gt 0) {
            $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
        }
        while ($true) {
            $text = Read-GenieLine -Reader $reader -Deadline $deadline -PipeName $pipeName -Command $Command
            if ($null -eq $text) {
                throw (New-GenieConnectionError 'io' $pipeName ("The service closed \\.\pipe\$pipeName before the final response to $Command. See its log with 'vmgenie logs'.") $null)
            }
            try {
                $response = ConvertFrom-Json -InputObject $text
            } catch {
                throw (New-GenieConnectionError 'io' $pipeName ("The service sent a line that is not JSON: $($_.Exception.GetBaseException().Message)") $_.Exception)
            }
            if ($response.id -ne $id) {
                throw (New-GenieConnectionError 'io' $pipeName ("The service sent a response with id '$($response.id)' to request '$id': \\.\pipe\$pipeName may belong to a different program or version.") $null)
            }

            if ($response.status -eq 'progress') {
                if (-not [string]::IsNullOrEmpty($ProgressActivity)) {
                    Write-GenieProgress -Activity $ProgressActivity -Data $response.data
                }
            } elseif ($response.status -eq 'ok') {
                return $response
            } elseif ($response.status -eq 'error') {
                throw (New-Object VmGenie.GenieProtocolException([string] $response.data.code, [string] $response.data.message, $Command, $id))
            } else {
                throw (New-GenieConnectionError 'io' $pipeName ("The service sent the unknown status '$($response.status)'.") $null)
            }
        }
    } finally {
        $client.Dispose()
    }
}

# Reads one line, waiting in short steps so that Ctrl+C stops the cmdlet
# and the deadline holds. Returns $null at the end of the stream.
function Read-GenieLine {
    param([System.IO.StreamReader] $Reader, [DateTime] $Deadline, [string] $PipeName, [string] $Command)

    $task = $Reader.ReadLineAsync()
    try {
        while (-not $task.Wait($script:ReadPollMilliseconds)) {
            if ([DateTime]::UtcNow -gt $Deadline) {
                throw (New-GenieConnectionError 'timeout' $PipeName ("The $Command request to \\.\pipe\$PipeName timed out while waiting for the service's response.") $null)
            }
        }
    } catch [System.AggregateException] {
        throw (New-GenieConnectionError 'io' $PipeName ("Reading the response to $Command from \\.\pipe\$PipeName failed: $($_.Exception.GetBaseException().Message)") $_.Exception)
    }
    return $task.Result
}

#endregion

#region Errors and output objects

# Returns the PowerShell error category of a protocol error code.
function Get-GenieErrorCategory {
    param([string] $Code)

    $categories = @{
        invalid_request   = [System.Management.Automation.ErrorCategory]::InvalidData
        unknown_command   = [System.Management.Automation.ErrorCategory]::InvalidOperation
        invalid_parameter = [System.Management.Automation.ErrorCategory]::InvalidArgument
        not_found         = [System.Management.Automation.ErrorCategory]::ObjectNotFound
        conflict          = [System.Management.Automation.ErrorCategory]::ResourceBusy
        permission_denied = [System.Management.Automation.ErrorCategory]::PermissionDenied
        too_large         = [System.Management.Automation.ErrorCategory]::LimitsExceeded
        timeout           = [System.Management.Automation.ErrorCategory]::OperationTimeout
        unavailable       = [System.Management.Automation.ErrorCategory]::ResourceUnavailable
        not_running       = [System.Management.Automation.ErrorCategory]::ResourceUnavailable
        io                = [System.Management.Automation.ErrorCategory]::ConnectionError
    }
    if ($categories.ContainsKey($Code)) {
        return $categories[$Code]
    }
    return [System.Management.Automation.ErrorCategory]::NotSpecified
}

# Builds the ErrorRecord of a VmGenie exception. Its error id is
# VmGenie.<code>, such as VmGenie.not_found, the exception keeps the code
# in Code (or Reason), and TargetObject is what the cmdlet worked on.
function ConvertTo-GenieErrorRecord {
    param([System.Exception] $Exception, [object] $Target)

    $code = 'internal'
    if ($Exception -is [VmGenie.GenieProtocolException]) {
        $code = $Exception.Code
    } elseif ($Exception -is [VmGenie.GenieConnectionException]) {
        $code = $Exception.Reason
    }
    $record = New-Object System.Management.Automation.ErrorRecord($Exception, "VmGenie.$code", (Get-GenieErrorCategory -Code $code), $Target)
    $record.ErrorDetails = New-Object System.Management.Automation.ErrorDetails($Exception.Message)
    $actions = @{
        not_found         = "Run Get-GenieVm or Get-GenieTemplate to see the names that exist."
        conflict          = "Wait for the running operation (Invoke-VmGenie operation.list), or stop it with Invoke-VmGenie operation.cancel."
        permission_denied = "Run PowerShell as administrator, or join Hyper-V Administrators and log in again."
        not_running       = "Start the service with 'vmgenie service start' from an elevated prompt."
        unavailable       = "Check the service's log with 'vmgenie logs'."
    }
    if ($actions.ContainsKey($code)) {
        $record.ErrorDetails.RecommendedAction = $actions[$code]
    }
    return $record
}

# Converts snake_case to PascalCase: memory_mib becomes MemoryMib.
function ConvertTo-GeniePascalCase {
    param([string] $Name)

    $parts = foreach ($part in $Name.Split('_')) {
        if ($part.Length -gt 0) {
            $part.Substring(0, 1).ToUpperInvariant() + $part.Substring(1)
        }
    }
    return ($parts -join '')
}

# Converts a decoded JSON value into objects with PascalCase properties,
# as PowerShell users expect, and gives the top object a type name for its
# default view. Unknown fields of newer services are kept.
function ConvertTo-GenieObject {
    param([object] $InputObject, [string] $TypeName)

    if ($InputObject -is [System.Management.Automation.PSCustomObject]) {
        $properties = [ordered]@{}
        foreach ($property in $InputObject.PSObject.Properties) {
            $properties[(ConvertTo-GeniePascalCase -Name $property.Name)] = ConvertTo-GenieObject -InputObject $property.Value
        }
        $object = New-Object -TypeName PSObject -Property $properties
        if (-not [string]::IsNullOrEmpty($TypeName)) {
            $object.PSObject.TypeNames.Insert(0, $TypeName)
        }
        return $object
    }
    if ($InputObject -is [System.Array]) {
        # A list, because @() around the output of an empty foreach would
        # make an array of one $null.
        $items = New-Object System.Collections.Generic.List[object]
        foreach ($item in $InputObject) {
            $items.Add((ConvertTo-GenieObject -InputObject $item))
        }
        return , $items.ToArray()
    }
    return $InputObject
}

# Returns a property of a decoded JSON object, or $null when the service
# left it out.
function Get-GenieField {
    param([object] $InputObject, [string] $Name)

    if ($null -eq $InputObject) {
        return $null
    }
    $property = $InputObject.PSObject.Properties[$Name]
    if ($null -eq $property) {
        return $null
    }
    return $property.Value
}

# Shows one progress line of a streamed request with Write-Progress.
function Write-GenieProgress {
    param([string] $Activity, [object] $Data)

    $message = [string] (Get-GenieField -InputObject $Data -Name 'message')
    $stage = [string] (Get-GenieField -InputObject $Data -Name 'stage')
    if ([string]::IsNullOrEmpty($message)) {
        $message = $stage
    }
    if ([string]::IsNullOrEmpty($message)) {
        $message = 'Working'
    }
    $percent = Get-GenieField -InputObject $Data -Name 'percent'
    $arguments = @{
        Id       = 1
        Activity = $Activity
        Status   = $message
    }
    if ($null -ne $percent) {
        $arguments['PercentComplete'] = [Math]::Max(0, [Math]::Min(100, [int] $percent))
    }
    if (-not [string]::IsNullOrEmpty($stage)) {
        $arguments['CurrentOperation'] = $stage
    }
    Write-Progress @arguments
}

# Runs a request for a cmdlet. A protocol error becomes a non-terminating
# error of the cmdlet and returns $null, so a pipeline goes on with its next
# VM. A connection failure stops the cmdlet, because every later request
# would fail the same way.
function Invoke-GenieCall {
    param(
        [System.Management.Automation.PSCmdlet] $Cmdlet,
        [string] $Command,
        [System.Collections.IDictionary] $Parameters,
        [object] $Target,
        [switch] $Stream,
        [string] $Activity,
        [string] $Pipe,
        [int] $TimeoutSeconds = 0
    )

    $progressActivity = ''
    if ($Stream) {
        $progressActivity = $Activity
    }
    try {
        return (Send-GenieRequest -Command $Command -Parameters $Parameters -Stream:$Stream -ProgressActivity $progressActivity -Pipe $Pipe -TimeoutSeconds $TimeoutSeconds)
    } catch [VmGenie.GenieProtocolException] {
        $Cmdlet.WriteError((ConvertTo-GenieErrorRecord -Exception $_.Exception -Target $Target))
        return $null
    } catch [VmGenie.GenieConnectionException] {
        $Cmdlet.ThrowTerminatingError((ConvertTo-GenieErrorRecord -Exception $_.Exception -Target $Target))
    } finally {
        if ($Stream) {
            Write-Progress -Id 1 -Activity $Activity -Completed
        }
    }
}

#endregion

#region Cmdlets

<#
.SYNOPSIS
Sends any command to the vmgenie service.

.DESCRIPTION
Sends one request over the service's named pipe and returns the data of the
final response. With -Stream, progress lines are shown with Write-Progress.
An error response becomes an error whose id is VmGenie.<code> and whose
exception (VmGenie.GenieProtocolException) has the code in its Code
property. 'Invoke-VmGenie help' lists every command with its parameters.

.PARAMETER Command
The command, such as status, help, vm.list or operation.get.

.PARAMETER Parameters
The command's parameters as a hashtable. Use [bool] values for booleans.

.PARAMETER Stream
Ask for progress lines before the final response.

.PARAMETER Raw
Return the whole final response (id, command, status, data) as the
service sent it, instead of its data with PascalCase properties.

.PARAMETER Pipe
The service's pipe: a name or \\.\pipe\NAME. Default: $env:VMGENIE_SOCKET,
else vmgenie.

.PARAMETER TimeoutSeconds
How long to wait for the final response; 0, the default, waits until it
arrives or Ctrl+C.

.EXAMPLE
Invoke-VmGenie help -Parameters @{ command = 'provision' }

.EXAMPLE
Invoke-VmGenie operation.get -Parameters @{ operation_id = 'op-3f2a9c0d1e4b5a69' } -Stream
#>
function Invoke-VmGenie {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true, Position = 0)]
        [ValidateNotNullOrEmpty()]
        [string] $Command,

        [Parameter(Position = 1)]
        [System.Collections.IDictionary] $Parameters,

        [switch] $Stream,

        [switch] $Raw,

        [string] $Pipe,

        [ValidateRange(0, 86400)]
        [int] $TimeoutSeconds = 0
    )

    $response = Invoke-GenieCall -Cmdlet $PSCmdlet -Command $Command -Parameters $Parameters -Target $Command -Stream:$Stream -Activity "vmgenie $Command" -Pipe $Pipe -TimeoutSeconds $TimeoutSeconds
    if ($null -eq $response) {
        return
    }
    if ($Raw) {
        return $response
    }
    return (ConvertTo-GenieObject -InputObject $response.data -TypeName "VmGenie.Result.$Command")
}

<#
.SYNOPSIS
Gets the state of the vmgenie service.

.EXAMPLE
Get-GenieStatus
#>
function Get-GenieStatus {
    [CmdletBinding()]
    [OutputType('VmGenie.Status')]
    param(
        [string] $Pipe
    )

    $response = Invoke-GenieCall -Cmdlet $PSCmdlet -Command 'status' -Target 'status' -Pipe $Pipe -TimeoutSeconds 30
    if ($null -ne $response) {
        ConvertTo-GenieObject -InputObject $response.data -TypeName 'VmGenie.Status'
    }
}

<#
.SYNOPSIS
Gets the VMs of the vmgenie service.

.DESCRIPTION
Without -Name, lists every VM. A name without wildcards gets one VM and is
an error when it does not exist. A name with wildcards (web-*) matches any
number of VMs.

.EXAMPLE
Get-GenieVm

.EXAMPLE
Get-GenieVm web-* | Stop-GenieVm
#>
function Get-GenieVm {
    [CmdletBinding()]
    [OutputType('VmGenie.Vm')]
    param(
        [Parameter(Position = 0, ValueFromPipeline = $true, ValueFromPipelineByPropertyName = $true)]
        [SupportsWildcards()]
        [string[]] $Name,

        [string] $Pipe
    )

    begin {
        $list = $null
    }
    process {
        if ($null -eq $Name -or $Name.Count -eq 0) {
            $response = Invoke-GenieCall -Cmdlet $PSCmdlet -Command 'vm.list' -Target 'vm.list' -Pipe $Pipe -TimeoutSeconds 120
            if ($null -ne $response) {
                foreach ($vm in @($response.data.vms)) {
                    ConvertTo-GenieObject -InputObject $vm -TypeName 'VmGenie.Vm'
                }
            }
            return
        }
        foreach ($pattern in $Name) {
            if (-not [System.Management.Automation.WildcardPattern]::ContainsWildcardCharacters($pattern)) {
                $response = Invoke-GenieCall -Cmdlet $PSCmdlet -Command 'vm.get' -Parameters @{ name = $pattern } -Target $pattern -Pipe $Pipe -TimeoutSeconds 120
                if ($null -ne $response) {
                    ConvertTo-GenieObject -InputObject $response.data -TypeName 'VmGenie.Vm'
                }
                continue
            }
            if ($null -eq $list) {
                $response = Invoke-GenieCall -Cmdlet $PSCmdlet -Command 'vm.list' -Target 'vm.list' -Pipe $Pipe -TimeoutSeconds 120
                if ($null -eq $response) {
                    return
                }
                $list = @($response.data.vms)
            }
            $wildcard = New-Object System.Management.Automation.WildcardPattern($pattern, [System.Management.Automation.WildcardOptions]::IgnoreCase)
            foreach ($vm in $list) {
                if ($wildcard.IsMatch([string] $vm.name)) {
                    ConvertTo-GenieObject -InputObject $vm -TypeName 'VmGenie.Vm'
                }
            }
        }
    }
}

<#
.SYNOPSIS
Creates a VM from a template and a base image, starts it and waits until
cloud-init has finished.

.DESCRIPTION
Shows each provisioning stage with Write-Progress and returns the new VM.
Ctrl+C stops following, not the provisioning: follow it again with
Invoke-VmGenie operation.get -Parameters @{ operation_id = '<id>' } -Stream.
With -NoWait, returns the operation at once.

.PARAMETER Variable
Template variables, such as @{ TIMEZONE = 'Europe/Warsaw' }.

.PARAMETER UserDataPath
A file of your own user-data, combined with the template's.

.EXAMPLE
New-GenieVm demo -OS debian -Version 12

.EXAMPLE
New-GenieVm web-1 -Template ubuntu-24.04 -Cpus 4 -MemoryMiB 4096 -DiskGiB 20 -Variable @{ TIMEZONE = 'Europe/Warsaw' }
#>
function New-GenieVm {
    [CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'Low', DefaultParameterSetName = 'Template')]
    [OutputType('VmGenie.Vm', 'VmGenie.Operation')]
    param(
        [Parameter(Mandatory = $true, Position = 0, ValueFromPipelineByPropertyName = $true)]
        [ValidateNotNullOrEmpty()]
        [string] $Name,

        [Parameter(Mandatory = $true, ParameterSetName = 'Template', ValueFromPipelineByPropertyName = $true)]
        [ValidateNotNullOrEmpty()]
        [string] $Template,

        [Parameter(Mandatory = $true, ParameterSetName = 'OS')]
        [ValidateNotNullOrEmpty()]
        [string] $OS,

        [Parameter(Mandatory = $true, ParameterSetName = 'OS')]
        [ValidateNotNullOrEmpty()]
        [string] $Version,

        [string] $Image,

        [ValidateRange(1, 64)]
        [int] $Cpus,

        [ValidateRange(128, 1048576)]
        [int] $MemoryMiB,

        [ValidateRange(1, 65536)]
        [int] $DiskGiB,

        [System.Collections.IDictionary] $Variable,

        [string] $UserDataPath,

        [ValidateRange(1, 86400)]
        [int] $SshTimeoutSeconds,

        [ValidateRange(1, 86400)]
        [int] $CloudInitTimeoutSeconds,

        [switch] $NoWait,

        [string] $Pipe
    )

    process {
        $templateName = $Template
        if ($PSCmdlet.ParameterSetName -eq 'OS') {
            $templateName = '{0}-{1}' -f $OS, $Version
        }
        $parameters = @{
            template = $templateName
            vm_name  = $Name
        }
        $optional = [ordered]@{
            Image                   = 'image'
            Cpus                    = 'cpus'
            MemoryMiB               = 'memory_mib'
            DiskGiB                 = 'disk_gib'
            SshTimeoutSeconds       = 'ssh_timeout_seconds'
            CloudInitTimeoutSeconds = 'cloud_init_timeout_seconds'
        }
        foreach ($parameterName in $optional.Keys) {
            if ($PSBoundParameters.ContainsKey($parameterName)) {
                $parameters[$optional[$parameterName]] = $PSBoundParameters[$parameterName]
            }
        }
        if ($null -ne $Variable -and $Variable.Count -gt 0) {
            $assignments = New-Object System.Collections.Generic.List[string]
            foreach ($key in @($Variable.Keys | Sort-Object)) {
                $variableName = [string] $key
                if ($variableName.Length -eq 0 -or $variableName.Contains('=')) {
                    $PSCmdlet.ThrowTerminatingError((New-Object System.Management.Automation.ErrorRecord(
                        (New-Object System.ArgumentException("Invalid template variable name '$variableName': use a name such as TIMEZONE, without '='.", 'Variable')),
                        'VmGenie.invalid_parameter', [System.Management.Automation.ErrorCategory]::InvalidArgument, $variableName)))
                }
                $assignments.Add(('{0}={1}' -f $variableName, [string] $Variable[$key]))
            }
            $parameters['vars'] = $assignments.ToArray()
        }
        if (-not [string]::IsNullOrEmpty($UserDataPath)) {
            $resolved = Resolve-Path -LiteralPath $UserDataPath -ErrorAction Stop
            $parameters['user_data'] = [System.IO.File]::ReadAllText($resolved.ProviderPath)
            $parameters['user_data_name'] = $resolved.ProviderPath
        }

        if (-not $PSCmdlet.ShouldProcess($Name, "Provision a VM from template $templateName")) {
            return
        }
        $stream = -not $NoWait
        $response = Invoke-GenieCall -Cmdlet $PSCmdlet -Command 'provision' -Parameters $parameters -Target $Name -Stream:$stream -Activity "Provisioning VM $Name" -Pipe $Pipe
        if ($null -eq $response) {
            return
        }
        if ($NoWait) {
            return (ConvertTo-GenieObject -InputObject $response.data -TypeName 'VmGenie.Operation')
        }
        foreach ($warning in @(Get-GenieField -InputObject (Get-GenieField -InputObject $response.data -Name 'result') -Name 'warnings')) {
            if ($null -ne $warning) {
                Write-Warning $warning
            }
        }
        $vm = Invoke-GenieCall -Cmdlet $PSCmdlet -Command 'vm.get' -Parameters @{ name = $Name } -Target $Name -Pipe $Pipe -TimeoutSeconds 120
        if ($null -ne $vm) {
            ConvertTo-GenieObject -InputObject $vm.data -TypeName 'VmGenie.Vm'
        }
    }
}

# Runs a VM lifecycle command for each name of a cmdlet, with ShouldProcess,
# and writes the VM that the service returns when PassThru is set.
function Invoke-GenieLifecycle {
    param(
        [System.Management.Automation.PSCmdlet] $Cmdlet,
        [string[]] $Name,
        [string] $Command,
        [string] $Action,
        [hashtable] $Extra,
        [switch] $PassThru,
        [string] $Pipe
    )

    foreach ($vmName in $Name) {
        if (-not $Cmdlet.ShouldProcess($vmName, $Action)) {
            continue
        }
        $parameters = @{ name = $vmName }
        if ($null -ne $Extra) {
            foreach ($key in $Extra.Keys) {
                $parameters[$key] = $Extra[$key]
            }
        }
        $response = Invoke-GenieCall -Cmdlet $Cmdlet -Command $Command -Parameters $parameters -Target $vmName -Pipe $Pipe
        if ($null -eq $response) {
            continue
        }
        Write-Verbose ([string] $response.data.details)
        $vm = Get-GenieField -InputObject $response.data -Name 'vm'
        if ($PassThru -and $null -ne $vm) {
            ConvertTo-GenieObject -InputObject $vm -TypeName 'VmGenie.Vm'
        }
    }
}

<#
.SYNOPSIS
Starts VMs that are off. Returns once Hyper-V runs them, not when the guest
has booted.

.EXAMPLE
Start-GenieVm web-1 -PassThru
#>
function Start-GenieVm {
    [CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'Low')]
    [OutputType('VmGenie.Vm')]
    param(
        [Parameter(Mandatory = $true, Position = 0, ValueFromPipeline = $true, ValueFromPipelineByPropertyName = $true)]
        [ValidateNotNullOrEmpty()]
        [string[]] $Name,

        [switch] $PassThru,

        [string] $Pipe
    )

    process {
        Invoke-GenieLifecycle -Cmdlet $PSCmdlet -Name $Name -Command 'vm.start' -Action 'Start the VM' -PassThru:$PassThru -Pipe $Pipe
    }
}

<#
.SYNOPSIS
Shuts VMs down: gracefully within -TimeoutSeconds, then by turning them off.

.PARAMETER Force
Turn the VM off at once, without asking the guest to shut down.

.PARAMETER TimeoutSeconds
Time the guest gets to shut down before the VM is turned off; the service's
default is 120.

.EXAMPLE
Get-GenieVm | Where-Object State -eq running | Stop-GenieVm -Force -Confirm:$false
#>
function Stop-GenieVm {
    [CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'Medium')]
    [OutputType('VmGenie.Vm')]
    param(
        [Parameter(Mandatory = $true, Position = 0, ValueFromPipeline = $true, ValueFromPipelineByPropertyName = $true)]
        [ValidateNotNullOrEmpty()]
        [string[]] $Name,

        [switch] $Force,

        [ValidateRange(1, 3600)]
        [int] $TimeoutSeconds,

        [switch] $PassThru,

        [string] $Pipe
    )

    process {
        $extra = @{ force = [bool] $Force }
        if ($PSBoundParameters.ContainsKey('TimeoutSeconds')) {
            $extra['timeout_seconds'] = $TimeoutSeconds
        }
        $action = 'Shut the VM down'
        if ($Force) {
            $action = 'Turn the VM off without shutting the guest down'
        }
        Invoke-GenieLifecycle -Cmdlet $PSCmdlet -Name $Name -Command 'vm.stop' -Action $action -Extra $extra -PassThru:$PassThru -Pipe $Pipe
    }
}

<#
.SYNOPSIS
Freezes running VMs in memory.

.EXAMPLE
Suspend-GenieVm web-1
#>
function Suspend-GenieVm {
    [CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'Medium')]
    [OutputType('VmGenie.Vm')]
    param(
        [Parameter(Mandatory = $true, Position = 0, ValueFromPipeline = $true, ValueFromPipelineByPropertyName = $true)]
        [ValidateNotNullOrEmpty()]
        [string[]] $Name,

        [switch] $PassThru,

        [string] $Pipe
    )

    process {
        Invoke-GenieLifecycle -Cmdlet $PSCmdlet -Name $Name -Command 'vm.pause' -Action 'Pause the VM' -PassThru:$PassThru -Pipe $Pipe
    }
}

<#
.SYNOPSIS
Continues paused VMs.

.EXAMPLE
Resume-GenieVm web-1
#>
function Resume-GenieVm {
    [CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'Low')]
    [OutputType('VmGenie.Vm')]
    param(
        [Parameter(Mandatory = $true, Position = 0, ValueFromPipeline = $true, ValueFromPipelineByPropertyName = $true)]
        [ValidateNotNullOrEmpty()]
        [string[]] $Name,

        [switch] $PassThru,

        [string] $Pipe
    )

    process {
        Invoke-GenieLifecycle -Cmdlet $PSCmdlet -Name $Name -Command 'vm.resume' -Action 'Resume the VM' -PassThru:$PassThru -Pipe $Pipe
    }
}

<#
.SYNOPSIS
Deletes VMs with their disks and files.

.DESCRIPTION
Asks for confirmation unless -Confirm:$false. A running VM is an error
unless -Force, which turns it off first.

.EXAMPLE
Remove-GenieVm web-1 -Force -Confirm:$false
#>
function Remove-GenieVm {
    [CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'High')]
    param(
        [Parameter(Mandatory = $true, Position = 0, ValueFromPipeline = $true, ValueFromPipelineByPropertyName = $true)]
        [ValidateNotNullOrEmpty()]
        [string[]] $Name,

        [switch] $Force,

        [string] $Pipe
    )

    process {
        $action = 'Delete the VM with its disk and files'
        if ($Force) {
            $action = 'Turn the VM off and delete it with its disk and files'
        }
        Invoke-GenieLifecycle -Cmdlet $PSCmdlet -Name $Name -Command 'vm.delete' -Action $action -Extra @{ force = [bool] $Force } -Pipe $Pipe
    }
}

# Returns the path of ssh.exe, or throws with how to install it.
function Get-GenieSshPath {
    $command = Get-Command -Name 'ssh.exe' -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
    if ($null -ne $command) {
        return $command.Source
    }
    $builtIn = Join-Path $env:SystemRoot 'System32\OpenSSH\ssh.exe'
    if (Test-Path -LiteralPath $builtIn) {
        return $builtIn
    }
    throw (New-Object System.IO.FileNotFoundException("ssh.exe was not found. Install the OpenSSH client: Add-WindowsCapability -Online -Name OpenSSH.Client~~~~0.0.1.0"))
}

# Copies the VM's private key to a file that only the current user and
# SYSTEM may read, and returns its path. ssh.exe of Windows' OpenSSH ignores
# a key that other accounts may read, and the key in the data directory is
# readable by Hyper-V Administrators. The copy is created empty, restricted,
# and only then filled, so the key is never readable by others.
function New-GeniePrivateKeyCopy {
    param([string] $Name, [string] $SourcePath)

    $bytes = [System.IO.File]::ReadAllBytes($SourcePath)
    $directory = Join-Path $env:LOCALAPPDATA 'vmgenie\ssh'
    $null = New-Item -ItemType Directory -Path $directory -Force
    $path = Join-Path $directory ('{0}-{1}.pem' -f $Name, $PID)
    if (Test-Path -LiteralPath $path) {
        Remove-Item -LiteralPath $path -Force
    }
    $stream = [System.IO.File]::Open($path, [System.IO.FileMode]::CreateNew, [System.IO.FileAccess]::Write, [System.IO.FileShare]::None)
    $stream.Dispose()

    $user = [System.Security.Principal.WindowsIdentity]::GetCurrent().User
    $system = New-Object System.Security.Principal.SecurityIdentifier('S-1-5-18')
    $security = New-Object System.Security.AccessControl.FileSecurity
    $security.SetOwner($user)
    $security.SetAccessRuleProtection($true, $false)
    foreach ($sid in @($user, $system)) {
        $rule = New-Object System.Security.AccessControl.FileSystemAccessRule($sid, [System.Security.AccessControl.FileSystemRights]::FullControl, [System.Security.AccessControl.AccessControlType]::Allow)
        $security.AddAccessRule($rule)
    }
    Set-Acl -LiteralPath $path -AclObject $security
    [System.IO.File]::WriteAllBytes($path, $bytes)
    return $path
}

# Waits until the VM's SSH port accepts TCP connections or the time is up.
function Wait-GenieSshPort {
    param([string] $HostName, [int] $Port, [int] $TimeoutSeconds, [string] $Name)

    $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSeconds)
    $announced = $false
    while ($true) {
        $client = New-Object System.Net.Sockets.TcpClient
        try {
            $attempt = $client.ConnectAsync($HostName, $Port)
            if ($attempt.Wait(2000) -and $client.Connected) {
                return
            }
        } catch {
            Write-Debug "SSH port of $Name is not open yet: $($_.Exception.Message)"
        } finally {
            $client.Dispose()
        }
        if ([DateTime]::UtcNow -gt $deadline) {
            throw (New-Object System.TimeoutException("SSH on VM '$Name' ($HostName`:$Port) did not answer within $TimeoutSeconds seconds. Check the VM with Get-GenieVm $Name, or raise -TimeoutSeconds."))
        }
        if (-not $announced) {
            Write-Host "Waiting for SSH on $Name ($HostName`:$Port)..."
            $announced = $true
        }
        Start-Sleep -Seconds 2
    }
}

<#
.SYNOPSIS
Opens an interactive SSH session to a VM with ssh.exe, starting it if
needed.

.DESCRIPTION
Gets the VM's user, address, key and pinned host key from the service
(vm.ssh_info). A VM that is off or saved is started and a paused one
resumed first. ssh.exe runs with the VM's own key, through a private copy
of it, and checks the host key pinned at provisioning. Arguments in
-SshArgument go to ssh.exe before the host. $LASTEXITCODE is ssh's exit
code.

.EXAMPLE
Connect-GenieVm demo

.EXAMPLE
Connect-GenieVm demo -SshArgument '-L', '8080:localhost:80'
#>
function Connect-GenieVm {
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true, Position = 0, ValueFromPipelineByPropertyName = $true)]
        [ValidateNotNullOrEmpty()]
        [string] $Name,

        [string[]] $SshArgument,

        [ValidateRange(1, 86400)]
        [int] $TimeoutSeconds = 300,

        [string] $Pipe
    )

    process {
        $ssh = Get-GenieSshPath
        $response = Invoke-GenieCall -Cmdlet $PSCmdlet -Command 'vm.ssh_info' -Parameters @{ name = $Name } -Target $Name -Pipe $Pipe -TimeoutSeconds 120
        if ($null -eq $response) {
            return
        }
        $state = [string] $response.data.state
        $wake = $null
        if ($state -eq 'off' -or $state -eq 'saved') {
            $wake = 'vm.start'
            Write-Host "Starting $Name..."
        } elseif ($state -eq 'paused') {
            $wake = 'vm.resume'
            Write-Host "Resuming $Name..."
        }
        if ($null -ne $wake) {
            if ($null -eq (Invoke-GenieCall -Cmdlet $PSCmdlet -Command $wake -Parameters @{ name = $Name } -Target $Name -Pipe $Pipe)) {
                return
            }
            $response = Invoke-GenieCall -Cmdlet $PSCmdlet -Command 'vm.ssh_info' -Parameters @{ name = $Name } -Target $Name -Pipe $Pipe -TimeoutSeconds 120
            if ($null -eq $response) {
                return
            }
        }
        $info = $response.data
        if ([int] $info.port -eq 0) {
            $PSCmdlet.ThrowTerminatingError((New-Object System.Management.Automation.ErrorRecord(
                (New-Object System.InvalidOperationException("VM '$Name' has no SSH address yet; check it with Get-GenieVm $Name.")),
                'VmGenie.no_address', [System.Management.Automation.ErrorCategory]::ResourceUnavailable, $Name)))
        }
        Wait-GenieSshPort -HostName ([string] $info.host) -Port ([int] $info.port) -TimeoutSeconds $TimeoutSeconds -Name $Name

        $key = New-GeniePrivateKeyCopy -Name $Name -SourcePath ([string] $info.private_key_path)
        try {
            $arguments = @(
                '-i', $key,
                '-p', ([string] $info.port),
                '-o', 'IdentitiesOnly=yes',
                '-o', ('UserKnownHostsFile=' + [string] $info.known_hosts_path),
                '-o', 'StrictHostKeyChecking=yes',
                '-o', 'HostKeyAlgorithms=ssh-ed25519',
                '-l', ([string] $info.user)
            )
            if ($null -ne $SshArgument) {
                $arguments += $SshArgument
            }
            $arguments += [string] $info.host
            & $ssh @arguments
        } finally {
            Remove-Item -LiteralPath $key -Force -ErrorAction SilentlyContinue
        }
    }
}

<#
.SYNOPSIS
Gets the OS templates that VMs are provisioned from.

.EXAMPLE
Get-GenieTemplate ubuntu-*
#>
function Get-GenieTemplate {
    [CmdletBinding()]
    [OutputType('VmGenie.Template')]
    param(
        [Parameter(Position = 0, ValueFromPipeline = $true, ValueFromPipelineByPropertyName = $true)]
        [SupportsWildcards()]
        [string[]] $Name,

        [string] $Pipe
    )

    begin {
        $templates = $null
    }
    process {
        if ($null -eq $templates) {
            $response = Invoke-GenieCall -Cmdlet $PSCmdlet -Command 'template.list' -Target 'template.list' -Pipe $Pipe -TimeoutSeconds 60
            if ($null -eq $response) {
                return
            }
            $templates = @($response.data.templates)
        }
        $patterns = $Name
        if ($null -eq $patterns -or $patterns.Count -eq 0) {
            $patterns = @('*')
        }
        foreach ($pattern in $patterns) {
            $wildcard = New-Object System.Management.Automation.WildcardPattern($pattern, [System.Management.Automation.WildcardOptions]::IgnoreCase)
            $found = $false
            foreach ($template in $templates) {
                if ($null -ne $template -and $wildcard.IsMatch([string] $template.name)) {
                    $found = $true
                    ConvertTo-GenieObject -InputObject $template -TypeName 'VmGenie.Template'
                }
            }
            if (-not $found -and -not [System.Management.Automation.WildcardPattern]::ContainsWildcardCharacters($pattern)) {
                $exception = New-Object VmGenie.GenieProtocolException('not_found', "Template '$pattern' was not found; Get-GenieTemplate lists the templates.", 'template.list', '')
                $PSCmdlet.WriteError((ConvertTo-GenieErrorRecord -Exception $exception -Target $pattern))
            }
        }
    }
}

#endregion

#region Completion and views

# Completes VM names from the running service. It completes nothing when
# the service cannot be reached within a second or two.
$script:CompleteVmName = {
    param($commandName, $parameterName, $wordToComplete, $commandAst, $fakeBoundParameters)

    $pipe = $null
    if ($fakeBoundParameters.Contains('Pipe')) {
        $pipe = [string] $fakeBoundParameters['Pipe']
    }
    try {
        $response = Send-GenieRequest -Command 'vm.list' -Pipe $pipe -TimeoutSeconds 2 -ConnectTimeoutMilliseconds 1000
    } catch {
        return
    }
    $prefix = [System.Management.Automation.WildcardPattern]::Escape([string] $wordToComplete) + '*'
    foreach ($vm in @($response.data.vms)) {
        $vmName = [string] $vm.name
        if ($vmName -like $prefix) {
            New-Object System.Management.Automation.CompletionResult($vmName, $vmName, [System.Management.Automation.CompletionResultType]::ParameterValue, ('{0} ({1})' -f $vmName, $vm.state))
        }
    }
}

# Completes template names, and OS names for -OS, from the running service.
$script:CompleteTemplate = {
    param($commandName, $parameterName, $wordToComplete, $commandAst, $fakeBoundParameters)

    $pipe = $null
    if ($fakeBoundParameters.Contains('Pipe')) {
        $pipe = [string] $fakeBoundParameters['Pipe']
    }
    try {
        $response = Send-GenieRequest -Command 'template.list' -Pipe $pipe -TimeoutSeconds 2 -ConnectTimeoutMilliseconds 1000
    } catch {
        return
    }
    $prefix = [System.Management.Automation.WildcardPattern]::Escape([string] $wordToComplete) + '*'
    $seen = @{}
    foreach ($template in @($response.data.templates)) {
        $value = [string] $template.name
        if ($parameterName -eq 'OS') {
            $value = [string] $template.os
        } elseif ($parameterName -eq 'Version') {
            if ($fakeBoundParameters.Contains('OS') -and [string] $template.os -ne [string] $fakeBoundParameters['OS']) {
                continue
            }
            $value = [string] $template.version
        }
        if ($value -like $prefix -and -not $seen.ContainsKey($value)) {
            $seen[$value] = $true
            New-Object System.Management.Automation.CompletionResult($value, $value, [System.Management.Automation.CompletionResultType]::ParameterValue, $value)
        }
    }
}

$vmCommands = @('Get-GenieVm', 'Start-GenieVm', 'Stop-GenieVm', 'Suspend-GenieVm', 'Resume-GenieVm', 'Remove-GenieVm', 'Connect-GenieVm')
Register-ArgumentCompleter -CommandName $vmCommands -ParameterName 'Name' -ScriptBlock $script:CompleteVmName
Register-ArgumentCompleter -CommandName 'Get-GenieTemplate' -ParameterName 'Name' -ScriptBlock $script:CompleteTemplate
Register-ArgumentCompleter -CommandName 'New-GenieVm' -ParameterName 'Template' -ScriptBlock $script:CompleteTemplate
Register-ArgumentCompleter -CommandName 'New-GenieVm' -ParameterName 'OS' -ScriptBlock $script:CompleteTemplate
Register-ArgumentCompleter -CommandName 'New-GenieVm' -ParameterName 'Version' -ScriptBlock $script:CompleteTemplate

# Default table columns of the output objects.
Update-TypeData -TypeName 'VmGenie.Vm' -DefaultDisplayPropertySet 'Name', 'State', 'Os', 'Version', 'Cpus', 'MemoryMib', 'Ssh' -Force
Update-TypeData -TypeName 'VmGenie.Template' -DefaultDisplayPropertySet 'Name', 'Os', 'Version', 'Source' -Force
Update-TypeData -TypeName 'VmGenie.Status' -DefaultDisplayPropertySet 'Details', 'Version', 'Driver', 'Platform', 'Uptime', 'OperationsRunning' -Force

#endregion

Export-ModuleMember -Function @(
    'Invoke-VmGenie',
    'Get-GenieStatus',
    'Get-GenieVm',
    'New-GenieVm',
    'Start-GenieVm',
    'Stop-GenieVm',
    'Suspend-GenieVm',
    'Resume-GenieVm',
    'Remove-GenieVm',
    'Connect-GenieVm',
    'Get-GenieTemplate'
)
