#Requires -Version 5.1
<#
.SYNOPSIS
Prints whether the vmgenie service is up or down.

.DESCRIPTION
Prints one line: "vmgenie is up" with the service's process id, version and
driver, or "vmgenie is down" with the reason. The service counts as up when
the service control manager reports it running and it answers a status
request on its pipe. Exits with 0 when up, 1 when down, so that scripts can
test it. Needs no elevated prompt to tell up from down; the status request
itself needs Administrators or Hyper-V Administrators.

.PARAMETER Pipe
The service's pipe: a name or \\.\pipe\NAME. Default: $env:VMGENIE_SOCKET,
else vmgenie.

.EXAMPLE
.\status.ps1
#>
[CmdletBinding()]
param(
    [string] $Pipe
)

Set-StrictMode -Version 2.0

$service = Get-Service -Name 'vmgenie' -ErrorAction SilentlyContinue
if ($null -eq $service) {
    Write-Output 'vmgenie is down: the service is not installed (run bin\install.ps1).'
    exit 1
}
if ($service.Status -ne 'Running') {
    Write-Output "vmgenie is down: the service is $($service.Status.ToString().ToLowerInvariant()) (start it with 'vmgenie service start')."
    exit 1
}

$exe = Get-Command -Name 'vmgenie.exe' -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
$exePath = Join-Path $env:ProgramFiles 'vmgenie\vmgenie.exe'
if ($null -ne $exe) {
    $exePath = $exe.Source
}
if (-not (Test-Path -LiteralPath $exePath)) {
    Write-Output "vmgenie is up: the service is running, but vmgenie.exe was not found to ask it for details."
    exit 0
}

$arguments = @('status', '-o', 'json')
if (-not [string]::IsNullOrEmpty($Pipe)) {
    $arguments += @('--socket', $Pipe)
}
# vmgenie.exe writes its errors to stderr, which stays on the console.
$output = & $exePath @arguments
if ($LASTEXITCODE -ne 0) {
    Write-Output 'vmgenie is down: the service is running but did not answer on its pipe (see the message above).'
    exit 1
}
$status = ($output -join "`n") | ConvertFrom-Json
Write-Output ("vmgenie is up: pid {0}, version {1}, driver {2}, up {3}, {4} operations running." -f $status.pid, $status.version, $status.driver, $status.uptime, $status.operations_running)
exit 0
