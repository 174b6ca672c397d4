#Requires -Version 5.1
<#
.SYNOPSIS
Removes vmgenie from Windows: the service, the binary, the VmGenie module and
the PATH entry. VMs and data stay unless -Purge.

.DESCRIPTION
Run from an elevated prompt. Without -Purge, the VMs keep running in
Hyper-V and %ProgramData%\vmgenie keeps the configuration, the VMs' disks,
keys and the log, so that install.ps1 picks them up again.

With -Purge, the script first deletes every VM through the service (turning
running ones off), then removes %ProgramData%\vmgenie. A data_dir set
elsewhere in the configuration is named but left for you to remove.

.PARAMETER Purge
Delete every VM and the data directory as well.

.PARAMETER InstallDir
Where install.ps1 put vmgenie.exe. Default: %ProgramFiles%\vmgenie.

.EXAMPLE
.\uninstall.ps1

.EXAMPLE
.\uninstall.ps1 -Purge -Confirm:$false
#>
[CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'High')]
param(
    [switch] $Purge,

    [string] $InstallDir = (Join-Path $env:ProgramFiles 'vmgenie')
)

Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'

function Write-Step {
    param([string] $Message)
    Write-Host "==> $Message" -ForegroundColor Cyan
}

function Stop-Uninstall {
    param([string] $Message)
    Write-Host "uninstall.ps1: $Message" -ForegroundColor Red
    exit 1
}

$identity = [System.Security.Principal.WindowsIdentity]::GetCurrent()
$principal = New-Object System.Security.Principal.WindowsPrincipal($identity)
if (-not $principal.IsInRole([System.Security.Principal.WindowsBuiltInRole]::Administrator)) {
    Stop-Uninstall 'Run this script from an elevated prompt: right-click PowerShell and choose Run as administrator.'
}

$exe = Join-Path $InstallDir 'vmgenie.exe'
$dataDir = Join-Path $env:ProgramData 'vmgenie'
$configPath = Join-Path $dataDir 'config.yml'
$haveExe = Test-Path -LiteralPath $exe
if (-not $haveExe) {
    Write-Warning "$exe does not exist; removing what is left."
}

$serviceInstalled = $null -ne (Get-Service -Name 'vmgenie' -ErrorAction SilentlyContinue)

if ($Purge -and $serviceInstalled -and $haveExe) {
    Write-Step 'Deleting every VM'
    $running = (Get-Service -Name 'vmgenie').Status -eq 'Running'
    if (-not $running -and $PSCmdlet.ShouldProcess('vmgenie service', 'Start it to delete the VMs')) {
        & $exe service start
        if ($LASTEXITCODE -ne 0) {
            Stop-Uninstall "The service did not start, so its VMs cannot be deleted; nothing was removed. See 'vmgenie logs'."
        }
    }
    $list = & $exe ps -o json | ConvertFrom-Json
    if ($LASTEXITCODE -ne 0) {
        Stop-Uninstall "Listing the VMs failed; nothing was removed. See the message above."
    }
    foreach ($vm in @($list)) {
        if ($null -eq $vm) {
            continue
        }
        $vmName = [string] $vm.name
        if ($PSCmdlet.ShouldProcess($vmName, 'Turn the VM off and delete it with its disk and files')) {
            & $exe delete $vmName --force
            if ($LASTEXITCODE -ne 0) {
                Stop-Uninstall "Deleting VM $vmName failed; the service and the remaining VMs were kept. See the message above."
            }
        }
    }
}

if ($serviceInstalled) {
    Write-Step 'Stopping and removing the vmgenie service'
    if ($PSCmdlet.ShouldProcess('vmgenie service', 'Stop and remove')) {
        if ($haveExe) {
            & $exe service uninstall
            if ($LASTEXITCODE -ne 0) {
                Stop-Uninstall "'vmgenie service uninstall' failed; see the message above."
            }
        } else {
            # Without vmgenie.exe, the system's own tools remove the service.
            Stop-Service -Name 'vmgenie' -ErrorAction SilentlyContinue
            & sc.exe delete vmgenie
        }
    }
}

Write-Step "Removing $InstallDir"
if ((Test-Path -LiteralPath $InstallDir) -and $PSCmdlet.ShouldProcess($InstallDir, 'Remove vmgenie.exe and genie.exe')) {
    Remove-Item -LiteralPath $InstallDir -Recurse -Force
}

$moduleDir = Join-Path $env:ProgramFiles 'WindowsPowerShell\Modules\VmGenie'
if ((Test-Path -LiteralPath $moduleDir) -and $PSCmdlet.ShouldProcess($moduleDir, 'Remove the VmGenie module')) {
    Write-Step "Removing $moduleDir"
    Remove-Item -LiteralPath $moduleDir -Recurse -Force
}

$machinePath = [Environment]::GetEnvironmentVariable('Path', 'Machine')
$entries = @($machinePath -split ';' | Where-Object { $_ -ne '' })
$kept = @($entries | Where-Object { $_.TrimEnd('\') -ine $InstallDir.TrimEnd('\') })
if ($kept.Count -ne $entries.Count -and $PSCmdlet.ShouldProcess('system PATH', "Remove $InstallDir")) {
    Write-Step "Removing $InstallDir from the system PATH"
    [Environment]::SetEnvironmentVariable('Path', ($kept -join ';'), 'Machine')
}

$keyCopies = Join-Path $env:LOCALAPPDATA 'vmgenie'
if ((Test-Path -LiteralPath $keyCopies) -and $PSCmdlet.ShouldProcess($keyCopies, 'Remove the SSH key copies of connect')) {
    Remove-Item -LiteralPath $keyCopies -Recurse -Force
}

if ($Purge) {
    # data_dir may point elsewhere; the script reads it but removes only
    # %ProgramData%\vmgenie.
    if (Test-Path -LiteralPath $configPath) {
        $dataDirLine = Select-String -LiteralPath $configPath -Pattern '^\s*data_dir\s*:\s*(.+?)\s*$' | Select-Object -First 1
        if ($null -ne $dataDirLine) {
            $customDir = $dataDirLine.Matches[0].Groups[1].Value.Trim([char[]] @([char] 39, [char] 34))
            Write-Warning "The configuration sets data_dir to $customDir, which this script does not remove. Delete it yourself when you no longer need it."
        }
    }
    if ((Test-Path -LiteralPath $dataDir) -and $PSCmdlet.ShouldProcess($dataDir, 'Remove the configuration, disks, keys and log')) {
        Write-Step "Removing $dataDir"
        Remove-Item -LiteralPath $dataDir -Recurse -Force
    }
} else {
    Write-Host "Kept $dataDir with the configuration, the VMs' disks and keys, and the log. Run uninstall.ps1 -Purge to delete them and the VMs."
}
Write-Host 'vmgenie is uninstalled.'
