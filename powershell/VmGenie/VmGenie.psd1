# Module manifest of VmGenie, the PowerShell client of the vmgenie service.
@{
    RootModule           = 'VmGenie.psm1'
    ModuleVersion        = '0.1.0'
    GUID                 = 'a07e3070-2c35-41da-b418-e918de829bfe'
    Author               = 'vmgenie contributors'
    CompanyName          = 'vmgenie'
    Copyright            = '(c) vmgenie contributors'
    Description          = 'Cmdlets that provision and manage Linux VMs through the vmgenie service, which they reach over the named pipe \\.\pipe\vmgenie.'
    PowerShellVersion    = '5.1'
    CompatiblePSEditions = @('Desktop', 'Core')
    FunctionsToExport    = @(
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
    CmdletsToExport      = @()
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{
        PSData = @{
            Tags = @('Hyper-V', 'cloud-init', 'VM', 'Windows')
        }
    }
}
