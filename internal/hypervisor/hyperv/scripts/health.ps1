# Reports the facts that the driver's health check judges: whether the
# Hyper-V module is installed, whether the vmms service runs, and whether
# this account may manage VMs.
# Input: {}. Output: {module_present, module_version, vmms_present,
# vmms_status, is_admin, is_hyperv_admin, user, os_caption, os_version,
# query_ok, query_error}.
param($In)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

$module = Get-Module -ListAvailable -Name Hyper-V | Sort-Object -Property Version -Descending | Select-Object -First 1
$moduleVersion = ''
if ($null -ne $module) {
    $moduleVersion = $module.Version.ToString()
}

$service = Get-Service -Name vmms -ErrorAction SilentlyContinue
$serviceStatus = ''
if ($null -ne $service) {
    $serviceStatus = $service.Status.ToString()
}

$identity = [Security.Principal.WindowsIdentity]::GetCurrent()
$principal = New-Object Security.Principal.WindowsPrincipal -ArgumentList $identity
$isAdmin = $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)
# Hyper-V Administrators is the well-known SID S-1-5-32-578; its name is
# translated, so the group is matched by SID.
$hyperVAdmins = New-Object Security.Principal.SecurityIdentifier -ArgumentList 'S-1-5-32-578'
$isHyperVAdmin = $principal.IsInRole($hyperVAdmins)

$os = Get-CimInstance -ClassName Win32_OperatingSystem

# Get-VMHost needs the module, the service and the rights at once, so it
# shows whether the three together work.
$queryOK = $false
$queryError = ''
if ($null -ne $module -and $serviceStatus -eq 'Running') {
    try {
        [void](Hyper-V\Get-VMHost)
        $queryOK = $true
    } catch {
        $queryError = $_.Exception.Message
    }
}

return [ordered]@{
    module_present  = ($null -ne $module)
    module_version  = $moduleVersion
    vmms_present    = ($null -ne $service)
    vmms_status     = $serviceStatus
    is_admin        = [bool]$isAdmin
    is_hyperv_admin = [bool]$isHyperVAdmin
    user            = $identity.Name
    os_caption      = [string]$os.Caption
    os_version      = [string]$os.Version
    query_ok        = $queryOK
    query_error     = $queryError
}
