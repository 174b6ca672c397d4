package hyperv

import (
	"errors"
	"testing"

	"github.com/vmgenie/vmgenie/internal/hypervisor"
)

func TestMapState(t *testing.T) {
	cases := []struct {
		hyperV string
		want   hypervisor.State
	}{
		{"Off", hypervisor.StateOff},
		{"Running", hypervisor.StateRunning},
		{"Paused", hypervisor.StatePaused},
		{"Saved", hypervisor.StateSaved},
		{"Starting", hypervisor.StateStarting},
		{"Stopping", hypervisor.StateStopping},
		{"Saving", hypervisor.StateStopping},
		{"Pausing", hypervisor.StatePaused},
		{"Resuming", hypervisor.StateStarting},
		{"Reset", hypervisor.StateStarting},
		{"FastSaved", hypervisor.StateSaved},
		{"FastSaving", hypervisor.StateStopping},
		{"Other", hypervisor.StateUnknown},
		{"RunningCritical", hypervisor.StateFailed},
		{"OffCritical", hypervisor.StateFailed},
		{"StoppingCritical", hypervisor.StateFailed},
		{"SavedCritical", hypervisor.StateFailed},
		{"PausedCritical", hypervisor.StateFailed},
		{"StartingCritical", hypervisor.StateFailed},
		{"ResetCritical", hypervisor.StateFailed},
		{"SavingCritical", hypervisor.StateFailed},
		{"PausingCritical", hypervisor.StateFailed},
		{"ResumingCritical", hypervisor.StateFailed},
		{"FastSavedCritical", hypervisor.StateFailed},
		{"FastSavingCritical", hypervisor.StateFailed},
		{"running", hypervisor.StateRunning},
		{"2", hypervisor.StateUnknown},
		{"", hypervisor.StateUnknown},
		{"Hibernated", hypervisor.StateUnknown},
	}
	for _, tc := range cases {
		t.Run(tc.hyperV, func(t *testing.T) {
			if got := mapState(tc.hyperV); got != tc.want {
				t.Errorf("mapState(%q) = %q, want %q", tc.hyperV, got, tc.want)
			}
		})
	}
	// Every entry of the table has a case above.
	tested := map[string]bool{}
	for _, tc := range cases {
		tested[tc.hyperV] = true
	}
	for name := range stateMap {
		if !tested[name] {
			t.Errorf("stateMap entry %q has no test case", name)
		}
	}
}

func TestPlans(t *testing.T) {
	const id = "0b7c1f53-1111-4c2b-9d3e-5f6a7b8c9d0e"
	type plan func(hypervisor.State) (action, error)
	plans := map[string]plan{
		"start":       func(s hypervisor.State) (action, error) { return planStart(id, s) },
		"stop":        func(s hypervisor.State) (action, error) { return planStop(id, s, false) },
		"stop force":  func(s hypervisor.State) (action, error) { return planStop(id, s, true) },
		"pause":       func(s hypervisor.State) (action, error) { return planPause(id, s) },
		"resume":      func(s hypervisor.State) (action, error) { return planResume(id, s) },
		"delete":      func(s hypervisor.State) (action, error) { return planDelete(id, s, false) },
		"delete forc": func(s hypervisor.State) (action, error) { return planDelete(id, s, true) },
	}
	const bad action = -1 // ErrInvalidState
	cases := []struct {
		op   string
		st   hypervisor.State
		want action
	}{
		{"start", hypervisor.StateOff, actRun},
		{"start", hypervisor.StateSaved, actRun},
		{"start", hypervisor.StateRunning, actNone},
		{"start", hypervisor.StatePaused, bad},
		{"start", hypervisor.StateStarting, bad},
		{"start", hypervisor.StateFailed, bad},
		{"stop", hypervisor.StateOff, actNone},
		{"stop", hypervisor.StateRunning, actRun},
		{"stop", hypervisor.StatePaused, actResume},
		{"stop", hypervisor.StateSaved, bad},
		{"stop", hypervisor.StateStopping, bad},
		{"stop", hypervisor.StateFailed, bad},
		{"stop force", hypervisor.StatePaused, actRun},
		{"stop force", hypervisor.StateSaved, actDiscard},
		{"stop force", hypervisor.StateFailed, actRun},
		{"stop force", hypervisor.StateOff, actNone},
		{"pause", hypervisor.StateRunning, actRun},
		{"pause", hypervisor.StatePaused, actNone},
		{"pause", hypervisor.StateOff, bad},
		{"pause", hypervisor.StateSaved, bad},
		{"resume", hypervisor.StatePaused, actRun},
		{"resume", hypervisor.StateRunning, actNone},
		{"resume", hypervisor.StateOff, bad},
		{"resume", hypervisor.StateSaved, bad},
		{"delete", hypervisor.StateOff, actRun},
		{"delete", hypervisor.StateSaved, actRun},
		{"delete", hypervisor.StateRunning, bad},
		{"delete", hypervisor.StatePaused, bad},
		{"delete forc", hypervisor.StateRunning, actRun},
		{"delete forc", hypervisor.StateFailed, actRun},
	}
	for _, tc := range cases {
		got, err := plans[tc.op](tc.st)
		if tc.want == bad {
			if !errors.Is(err, hypervisor.ErrInvalidState) {
				t.Errorf("%s in %s: err = %v, want ErrInvalidState", tc.op, tc.st, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s in %s: %v", tc.op, tc.st, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s in %s: action %d, want %d", tc.op, tc.st, got, tc.want)
		}
	}
}
