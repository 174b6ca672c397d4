package hyperv

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/pshost"
	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/scripts"
)

// HealthFacts is the output of health.ps1.
type HealthFacts struct {
	ModulePresent bool   `json:"module_present"`
	ModuleVersion string `json:"module_version"`
	VMMSPresent   bool   `json:"vmms_present"`
	VMMSStatus    string `json:"vmms_status"`
	IsAdmin       bool   `json:"is_admin"`
	IsHyperVAdmin bool   `json:"is_hyperv_admin"`
	User          string `json:"user"`
	OSCaption     string `json:"os_caption"`
	OSVersion     string `json:"os_version"`
	QueryOK       bool   `json:"query_ok"`
	QueryError    string `json:"query_error"`
}

// Health check names, as HealthError.Check reports them.
const (
	CheckModule = "module"
	CheckVMMS   = "vmms"
	CheckRights = "rights"
	CheckQuery  = "query"
)

// HealthError is one failed health check.
type HealthError struct {
	Check   string // CheckModule, CheckVMMS, CheckRights or CheckQuery
	Problem string
	Fix     string
}

func (e *HealthError) Error() string { return "Hyper-V health check: " + e.Problem + "; " + e.Fix }

// HealthCheck checks that this host can run VMs: the Hyper-V PowerShell
// module is installed, the Virtual Machine Management service (vmms) runs,
// and the service account is an administrator or a member of Hyper-V
// Administrators. Each failure is its own *HealthError in the joined error.
func HealthCheck(ctx context.Context, host *pshost.Host) (HealthFacts, error) {
	var facts HealthFacts
	if err := host.Call(ctx, scripts.Health, struct{}{}, &facts, pshost.CallOptions{}); err != nil {
		return facts, fmt.Errorf("Hyper-V health check: running PowerShell failed: %w; check that powershell.exe starts for the service account", err)
	}
	return facts, judgeHealth(facts)
}

// HealthCheck runs HealthCheck on the driver's host and logs the result.
func (d *Driver) HealthCheck(ctx context.Context) error {
	facts, err := HealthCheck(ctx, d.host)
	if err != nil {
		d.log.Error("Hyper-V health check failed", "user", facts.User, "os", facts.OSCaption, "err", err)
		return err
	}
	d.log.Info("Hyper-V health check passed", "user", facts.User, "os", facts.OSCaption, "os_version", facts.OSVersion, "module_version", facts.ModuleVersion)
	return nil
}

// judgeHealth turns the facts into one error per failed check.
func judgeHealth(f HealthFacts) error {
	var errs []error
	if !f.ModulePresent {
		errs = append(errs, &HealthError{Check: CheckModule,
			Problem: "the Hyper-V PowerShell module is not installed",
			Fix: "enable Hyper-V with its management tools: Enable-WindowsOptionalFeature -Online -FeatureName Microsoft-Hyper-V-All " +
				"on Windows 10 or 11 Pro or Enterprise, or Install-WindowsFeature -Name Hyper-V -IncludeManagementTools on Windows Server, then restart"})
	}
	switch {
	case !f.VMMSPresent:
		errs = append(errs, &HealthError{Check: CheckVMMS,
			Problem: "the Hyper-V Virtual Machine Management service (vmms) does not exist, so Hyper-V is not enabled",
			Fix:     "enable the Hyper-V feature and restart Windows"})
	case !strings.EqualFold(f.VMMSStatus, "Running"):
		errs = append(errs, &HealthError{Check: CheckVMMS,
			Problem: fmt.Sprintf("the Hyper-V Virtual Machine Management service (vmms) is %s, not Running", orUnknown(f.VMMSStatus)),
			Fix:     "start it with Start-Service vmms from an administrator PowerShell, and check the Hyper-V-VMMS event log if it stops again"})
	}
	if !f.IsAdmin && !f.IsHyperVAdmin {
		errs = append(errs, &HealthError{Check: CheckRights,
			Problem: fmt.Sprintf("the account %s is neither an administrator nor a member of Hyper-V Administrators", orUnknown(f.User)),
			Fix:     "run the service as LocalSystem or an administrator, or add the account with Add-LocalGroupMember -SID S-1-5-32-578 -Member <account> and sign in again"})
	}
	if len(errs) == 0 && !f.QueryOK {
		errs = append(errs, &HealthError{Check: CheckQuery,
			Problem: "Hyper-V\\Get-VMHost failed: " + orUnknown(f.QueryError),
			Fix:     "run Hyper-V\\Get-VMHost as the service account to see the full error"})
	}
	return errors.Join(errs...)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
