#Requires -Version 5.1
<#
.SYNOPSIS
Prints the vmgenie service's log, and follows it with -f.

.DESCRIPTION
Runs 'vmgenie logs', which reads the log file that the configuration names
(by default %ProgramData%\vmgenie\logs\vmgenie.log) and the rotated files
before it. With -f it keeps printing new lines, across rotations, until
Ctrl+C. Reading the log needs Administrators or Hyper-V Administrators,
because %ProgramData%\vmgenie is restricted to them.

.PARAMETER Follow
Keep printing new lines until Ctrl+C. -f is its short form.

.PARAMETER Lines
Number of last lines to print first. Default: 50.

.EXAMPLE
.\log.ps1 -f

.EXAMPLE
.\log.ps1 -Lines 200
#>
[CmdletBinding()]
param(
    [Alias('f')]
    [switch] $Follow,

    [ValidateRange(0, 1000000)]
    [int] $Lines = 50
)

Set-StrictMode -Version 2.0

$exe = Get-Command -Name 'vmgenie.exe' -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
$exePath = Join-Path $env:ProgramFiles 'vmgenie\vmgenie.exe'
if ($null -ne $exe) {
    $exePath = $exe.Source
}
if (-not (Test-Path -LiteralPath $exePath)) {
    Write-Error "vmgenie.exe was not found on PATH or in $(Split-Path -Parent $exePath): install vmgenie with bin\install.ps1."
    exit 1
}

$arguments = @('logs', '-n', [string] $Lines)
if ($Follow) {
    $arguments += '-f'
}
& $exePath @arguments
exit $LASTEXITCODE
