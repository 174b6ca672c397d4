#Requires -Version 5.1
<#
.SYNOPSIS
Installs vmgenie on Windows: the binary, the VmGenie module, the Windows
service and its configuration.

.DESCRIPTION
Run from an elevated prompt. The script:
  1. checks that it runs as administrator, the Windows edition and build,
     that the Hyper-V feature is enabled (and offers to enable it), and that
     the Hyper-V Virtual Machine Management service (vmms) is running;
  2. builds vmgenie.exe with Go when run from a source checkout, or takes
     the released binary given by -BinaryPath or lying next to this script;
  3. installs it under Program Files, with genie.exe as a short name, and the
     VmGenie PowerShell module for all users;
  4. writes %ProgramData%\vmgenie\config.yml when it does not exist, and
     runs 'vmgenie service install', which also restricts %ProgramData%\vmgenie
     to SYSTEM, Administrators and Hyper-V Administrators;
  5. adds the install directory to the system PATH;
  6. ends with the service's status.
Running it again upgrades vmgenie and keeps the configuration, VMs and data.

.PARAMETER BinaryPath
A released vmgenie.exe to install instead of building one.

.PARAMETER InstallDir
Where vmgenie.exe goes. Default: %ProgramFiles%\vmgenie.

.PARAMETER EnableHyperV
Enable the Hyper-V feature without asking when it is disabled.

.EXAMPLE
.\bin\install.ps1

.EXAMPLE
.\install.ps1 -BinaryPath .\vmgenie.exe -WhatIf
#>
[CmdletBinding(SupportsShouldProcess = $true)]
param(
    [string] $BinaryPath,

    [string] $InstallDir = (Join-Path $env:ProgramFiles 'vmgenie'),

    [switch] $EnableHyperV
)

Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'

# Windows 10 1809 and Windows Server 2019 have build 17763, the oldest that
# the Hyper-V driver supports (docs/hyperv.md).
$minimumBuild = 17763

function Write-Step {
    param([string] $Message)
    Write-Host "==> $Message" -ForegroundColor Cyan
}

# Stops the script with a message that says what to do.
function Stop-Install {
    param([string] $Message)
    Write-Host "install.ps1: $Message" -ForegroundColor Red
    exit 1
}

function Test-Administrator {
    $identity = [System.Security.Principal.WindowsIdentity]::GetCurrent()
    $principal = New-Object System.Security.Principal.WindowsPrincipal($identity)
    return $principal.IsInRole([System.Security.Principal.WindowsBuiltInRole]::Administrator)
}

# Checks the edition and build, and returns whether this is Windows Server.
function Test-WindowsVersion {
    $os = Get-CimInstance -ClassName Win32_OperatingSystem
    Write-Host "Windows: $($os.Caption), build $($os.BuildNumber)"
    if ([int] $os.BuildNumber -lt $minimumBuild) {
        Stop-Install "Windows build $($os.BuildNumber) is too old: vmgenie needs Windows 10 or 11 (build $minimumBuild or later) or Windows Server 2019 or later."
    }
    $isServer = [int] $os.ProductType -ne 1
    if (-not $isServer -and $os.Caption -match 'Home') {
        Stop-Install "$($os.Caption) has no Hyper-V: vmgenie needs Windows 10 or 11 Pro, Enterprise or Education, or Windows Server."
    }
    return $isServer
}

# Checks the Hyper-V feature and its PowerShell module, and offers to enable
# them. Enabling needs a restart, after which the script is run again.
function Test-HyperVFeature {
    param([bool] $IsServer)

    if ($IsServer) {
        $features = @(Get-WindowsFeature -Name 'Hyper-V', 'Hyper-V-PowerShell')
        $missing = @($features | Where-Object { -not $_.Installed })
    } else {
        # Get-WindowsOptionalFeature takes one -FeatureName at a time.
        $features = @('Microsoft-Hyper-V', 'Microsoft-Hyper-V-Management-PowerShell' | ForEach-Object {
                Get-WindowsOptionalFeature -Online -FeatureName $_
            })
        $missing = @($features | Where-Object { $_.State -ne 'Enabled' })
    }
    if ($missing.Count -eq 0) {
        Write-Host 'Hyper-V: enabled'
        return
    }
    $names = ($missing | ForEach-Object { if ($IsServer) { $_.Name } else { $_.FeatureName } }) -join ', '
    Write-Host "Hyper-V: not enabled ($names)"
    $enable = $EnableHyperV -or $PSCmdlet.ShouldContinue('Enable Hyper-V now? Windows must restart before vmgenie can use it.', 'Hyper-V is not enabled')
    if (-not $enable) {
        Stop-Install 'Hyper-V is required. Enable it, restart, and run install.ps1 again.'
    }
    if ($PSCmdlet.ShouldProcess('Hyper-V', 'Enable the Windows feature')) {
        if ($IsServer) {
            $null = Install-WindowsFeature -Name 'Hyper-V' -IncludeManagementTools
        } else {
            $null = Enable-WindowsOptionalFeature -Online -FeatureName 'Microsoft-Hyper-V-All' -All -NoRestart
        }
    }
    Write-Host 'Hyper-V was enabled. Restart Windows, then run install.ps1 again.' -ForegroundColor Yellow
    exit 3010
}

function Test-Vmms {
    $vmms = Get-Service -Name 'vmms' -ErrorAction SilentlyContinue
    if ($null -eq $vmms) {
        Stop-Install 'The Hyper-V Virtual Machine Management service (vmms) does not exist. Enable Hyper-V and restart Windows.'
    }
    if ($vmms.Status -ne 'Running') {
        if ($PSCmdlet.ShouldProcess('vmms', 'Start the Hyper-V Virtual Machine Management service')) {
            Start-Service -Name 'vmms'
        }
    }
    Write-Host "vmms: $((Get-Service -Name 'vmms').Status)"
}

# Returns the repository root when this script runs from a source checkout.
function Get-SourceRoot {
    $root = Split-Path -Parent $PSScriptRoot
    $goMod = Join-Path $root 'go.mod'
    if ((Test-Path -LiteralPath $goMod) -and (Select-String -LiteralPath $goMod -Pattern '^module github.com/vmgenie/vmgenie$' -Quiet)) {
        return $root
    }
    return $null
}

# Returns the path of the vmgenie.exe to install, building it when needed.
function Get-Binary {
    param([string] $SourceRoot)

    if (-not [string]::IsNullOrEmpty($BinaryPath)) {
        if (-not (Test-Path -LiteralPath $BinaryPath -PathType Leaf)) {
            Stop-Install "-BinaryPath $BinaryPath does not exist."
        }
        return (Resolve-Path -LiteralPath $BinaryPath).ProviderPath
    }
    if ($null -ne $SourceRoot) {
        $go = Get-Command -Name 'go.exe' -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
        if ($null -eq $go) {
            Stop-Install 'This is a source checkout, but Go was not found on PATH. Install Go (https://go.dev/dl/), or pass a released binary with -BinaryPath.'
        }
        $outputDir = Join-Path ([System.IO.Path]::GetTempPath()) ('vmgenie-build-{0}' -f $PID)
        $null = New-Item -ItemType Directory -Path $outputDir -Force
        $output = Join-Path $outputDir 'vmgenie.exe'
        Write-Step "Building vmgenie.exe with $($go.Source)"
        Push-Location -LiteralPath $SourceRoot
        try {
            & $go.Source build -o $output ./cmd/vmgenie | Out-Host
            if ($LASTEXITCODE -ne 0) {
                Stop-Install "go build failed with exit code $LASTEXITCODE."
            }
        } finally {
            Pop-Location
        }
        return $output
    }
    $released = Join-Path $PSScriptRoot 'vmgenie.exe'
    if (Test-Path -LiteralPath $released -PathType Leaf) {
        return $released
    }
    Stop-Install "No vmgenie.exe to install: run this script from a source checkout with Go installed, put a released vmgenie.exe next to it, or pass -BinaryPath."
}

# Returns the directory of the VmGenie module to install, or $null.
function Get-ModuleSource {
    param([string] $SourceRoot)

    $candidates = @(
        (Join-Path $PSScriptRoot 'VmGenie'),
        (Join-Path $PSScriptRoot '..\powershell\VmGenie')
    )
    if ($null -ne $SourceRoot) {
        $candidates = @(Join-Path $SourceRoot 'powershell\VmGenie') + $candidates
    }
    foreach ($candidate in $candidates) {
        if (Test-Path -LiteralPath (Join-Path $candidate 'VmGenie.psd1')) {
            return (Resolve-Path -LiteralPath $candidate).ProviderPath
        }
    }
    return $null
}

# Runs the installed vmgenie.exe, shows its output, and returns its exit
# code. Out-Host keeps the output out of the return value.
function Invoke-Installed {
    param([string[]] $Arguments)

    & (Join-Path $InstallDir 'vmgenie.exe') @Arguments | Out-Host
    return $LASTEXITCODE
}

# Adds the install directory to the system PATH and to this session's.
function Add-ToPath {
    $machinePath = [Environment]::GetEnvironmentVariable('Path', 'Machine')
    $entries = @($machinePath -split ';' | Where-Object { $_ -ne '' })
    $present = $entries | Where-Object { $_.TrimEnd('\') -ieq $InstallDir.TrimEnd('\') }
    if ($null -eq $present) {
        if ($PSCmdlet.ShouldProcess('system PATH', "Add $InstallDir")) {
            [Environment]::SetEnvironmentVariable('Path', (($entries + $InstallDir) -join ';'), 'Machine')
            Write-Host "Added $InstallDir to the system PATH; new terminals see it."
        }
    }
    if (-not (($env:Path -split ';') | Where-Object { $_.TrimEnd('\') -ieq $InstallDir.TrimEnd('\') })) {
        $env:Path = $env:Path + ';' + $InstallDir
    }
}

# The first configuration: the Hyper-V driver and the default data
# directory. docs/service.md describes every key.
$defaultConfig = @'
# vmgenie service configuration. docs/service.md describes every key.
# The service reads this file when it starts: run "vmgenie service stop"
# and "vmgenie service start" after a change.
driver: hyperv
log:
  level: info
'@

Write-Step 'Checking this machine'
if (-not (Test-Administrator)) {
    Stop-Install 'Run this script from an elevated prompt: right-click PowerShell and choose Run as administrator.'
}
$isServer = Test-WindowsVersion
Test-HyperVFeature -IsServer $isServer
Test-Vmms

$sourceRoot = Get-SourceRoot
$binary = Get-Binary -SourceRoot $sourceRoot
$installedExe = Join-Path $InstallDir 'vmgenie.exe'

# An installed service holds vmgenie.exe open, so it is removed first. Its
# VMs and data stay.
if (Test-Path -LiteralPath $installedExe) {
    $status = & $installedExe service status -o json | ConvertFrom-Json
    if ($null -ne $status -and $status.installed -and $PSCmdlet.ShouldProcess('vmgenie service', 'Remove the installed service before the upgrade (VMs and data stay)')) {
        Write-Step 'Removing the installed service for the upgrade'
        if ((Invoke-Installed -Arguments @('service', 'uninstall')) -ne 0) {
            Stop-Install "'vmgenie service uninstall' failed; see the message above."
        }
    }
}

Write-Step "Installing vmgenie.exe into $InstallDir"
if ($PSCmdlet.ShouldProcess($InstallDir, 'Copy vmgenie.exe and create genie.exe')) {
    $null = New-Item -ItemType Directory -Path $InstallDir -Force
    Copy-Item -LiteralPath $binary -Destination $installedExe -Force
    # genie.exe is a second name for the same file, so it never falls
    # behind vmgenie.exe. A volume without hard links gets a copy.
    $genie = Join-Path $InstallDir 'genie.exe'
    if (Test-Path -LiteralPath $genie) {
        Remove-Item -LiteralPath $genie -Force
    }
    try {
        $null = New-Item -ItemType HardLink -Path $genie -Value $installedExe
    } catch {
        Copy-Item -LiteralPath $installedExe -Destination $genie
    }
}

$moduleSource = Get-ModuleSource -SourceRoot $sourceRoot
if ($null -eq $moduleSource) {
    Write-Warning 'The VmGenie PowerShell module was not found next to this script; the CLI is installed without it.'
} else {
    $moduleTarget = Join-Path $env:ProgramFiles 'WindowsPowerShell\Modules\VmGenie'
    Write-Step "Installing the VmGenie module into $moduleTarget"
    if ($PSCmdlet.ShouldProcess($moduleTarget, 'Copy the VmGenie module')) {
        $null = New-Item -ItemType Directory -Path $moduleTarget -Force
        Copy-Item -Path (Join-Path $moduleSource 'VmGenie.ps*1') -Destination $moduleTarget -Force
    }
}

$dataDir = Join-Path $env:ProgramData 'vmgenie'
$configPath = Join-Path $dataDir 'config.yml'
if (Test-Path -LiteralPath $configPath) {
    Write-Step "Keeping the configuration $configPath"
} elseif ($PSCmdlet.ShouldProcess($configPath, 'Write the default configuration')) {
    Write-Step "Writing the configuration $configPath"
    $null = New-Item -ItemType Directory -Path $dataDir -Force
    # UTF-8 without a byte order mark.
    [System.IO.File]::WriteAllText($configPath, $defaultConfig, (New-Object System.Text.UTF8Encoding($false)))
}

Add-ToPath

Write-Step 'Installing and starting the vmgenie service'
if ($PSCmdlet.ShouldProcess('vmgenie service', 'Install and start')) {
    if ((Invoke-Installed -Arguments @('service', 'install')) -ne 0) {
        Stop-Install "'vmgenie service install' failed; see the message above, and the log with 'vmgenie logs'."
    }
}

Write-Step 'Service status'
if (Test-Path -LiteralPath $installedExe) {
    $null = Invoke-Installed -Arguments @('service', 'status')
    $null = Invoke-Installed -Arguments @('status')
}
Write-Host ''
Write-Host 'vmgenie is installed. In a new terminal: genie template list, or Import-Module VmGenie; Get-GenieTemplate.'
Write-Host 'docs/windows.md shows how to create the first VM.'
