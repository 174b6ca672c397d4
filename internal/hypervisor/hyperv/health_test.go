package hyperv

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/hypervtest"
	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/pshost"
)

func healthy() HealthFacts {
	return HealthFacts{ModulePresent: true, VMMSPresent: true, VMMSStatus: "Running", IsAdmin: true, User: `HOST\svc`, QueryOK: true}
}

func TestJudgeHealth(t *testing.T) {
	cases := []struct {
		name   string
		change func(*HealthFacts)
		checks []string // failed checks, in order
		words  []string
	}{
		{"healthy", func(*HealthFacts) {}, nil, nil},
		{"Hyper-V Administrators member", func(f *HealthFacts) { f.IsAdmin, f.IsHyperVAdmin = false, true }, nil, nil},
		{"module missing", func(f *HealthFacts) { f.ModulePresent = false }, []string{CheckModule}, []string{"PowerShell module is not installed", "Enable-WindowsOptionalFeature", "Install-WindowsFeature"}},
		{"vmms missing", func(f *HealthFacts) { f.VMMSPresent, f.VMMSStatus = false, "" }, []string{CheckVMMS}, []string{"does not exist"}},
		{"vmms stopped", func(f *HealthFacts) { f.VMMSStatus = "Stopped" }, []string{CheckVMMS}, []string{"is Stopped", "Start-Service vmms"}},
		{"no rights", func(f *HealthFacts) { f.IsAdmin = false }, []string{CheckRights}, []string{`HOST\svc`, "Hyper-V Administrators", "S-1-5-32-578"}},
		{"query failed", func(f *HealthFacts) { f.QueryOK, f.QueryError = false, "The operation failed" }, []string{CheckQuery}, []string{"Get-VMHost failed: The operation failed"}},
		{"everything broken", func(f *HealthFacts) {
			f.ModulePresent, f.VMMSPresent, f.VMMSStatus, f.IsAdmin, f.QueryOK = false, false, "", false, false
		}, []string{CheckModule, CheckVMMS, CheckRights}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := healthy()
			tc.change(&f)
			err := judgeHealth(f)
			if len(tc.checks) == 0 {
				if err != nil {
					t.Fatalf("judgeHealth = %v, want nil", err)
				}
				return
			}
			joined, ok := err.(interface{ Unwrap() []error })
			if !ok {
				t.Fatalf("judgeHealth = %v, want a joined error", err)
			}
			var got []string
			for _, e := range joined.Unwrap() {
				var he *HealthError
				if !errors.As(e, &he) {
					t.Fatalf("error %v is not a *HealthError", e)
				}
				got = append(got, he.Check)
			}
			if strings.Join(got, ",") != strings.Join(tc.checks, ",") {
				t.Errorf("failed checks = %v, want %v", got, tc.checks)
			}
			for _, w := range tc.words {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
		})
	}
}

func TestHealthCheckThroughHost(t *testing.T) {
	facts := hypervtest.HealthyFacts()
	facts.VMMSStatus = "Stopped"
	model := hypervtest.NewModel(hypervtest.Options{Health: &facts})
	host, err := pshost.New(pshost.Config{Starter: hypervtest.InProcessStarter{Backend: model}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	got, err := HealthCheck(context.Background(), host)
	var he *HealthError
	if !errors.As(err, &he) || he.Check != CheckVMMS {
		t.Fatalf("HealthCheck = %v, want a vmms HealthError", err)
	}
	if got.OSCaption != facts.OSCaption {
		t.Errorf("facts.OSCaption = %q, want %q", got.OSCaption, facts.OSCaption)
	}
}
