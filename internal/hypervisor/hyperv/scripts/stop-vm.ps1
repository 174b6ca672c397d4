# Stops a running VM. Without force it asks the guest to shut down through
# the shutdown integration service and waits up to timeout_seconds; a guest
# that fails to shut down in time, or cannot be asked, is turned off.
# Input: {id, force, timeout_seconds}.
# Output: {forced, reason, vm: VM description}.
param($In)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'

$vm = Get-GenieVM $In.id
$forced = $false
$reason = ''
if ($In.force) {
    $reason = 'a forced stop was requested'
} else {
    # Stop-VM has no timeout of its own, so it runs as a job that is
    # abandoned after the timeout. -Force keeps it from prompting when the
    # guest has a user logged on.
    $job = Hyper-V\Stop-VM -VM $vm -Force -AsJob
    $finished = Wait-Job -Job $job -Timeout ([int]$In.timeout_seconds)
    if ($null -eq $finished) {
        $reason = ('the guest did not shut down within {0} seconds' -f $In.timeout_seconds)
    } elseif ($job.State -eq 'Failed') {
        # NOTE: where a failed Stop-VM job keeps its reason has not been
        # checked on Hyper-V; an empty reason still leads to a turn-off.
        $reason = ('the shutdown request failed: {0}' -f $job.ChildJobs[0].JobStateInfo.Reason.Message)
    }
    Remove-Job -Job $job -Force
    $vm = Get-GenieVM $In.id
}
if ($vm.State.ToString() -ne 'Off') {
    Hyper-V\Stop-VM -VM $vm -TurnOff -Force
    $forced = $true
}
return [ordered]@{
    forced = $forced
    reason = $reason
    vm     = (Get-GenieVMInfo (Get-GenieVM $In.id))
}
