package hyperv

import (
	"strings"

	"github.com/vmgenie/vmgenie/internal/hypervisor"
)

// stateMap maps the names of Hyper-V's VMState enumeration
// (Microsoft.HyperV.PowerShell.VMState, as $vm.State.ToString() spells
// them) to the driver's states. Transitions map to the state they lead to
// when the caller can only wait (Starting, Stopping), and the Critical
// variants, which Hyper-V reports when the VM's storage is unreachable, map
// to Failed.
var stateMap = map[string]hypervisor.State{
	"Off":      hypervisor.StateOff,
	"Running":  hypervisor.StateRunning,
	"Paused":   hypervisor.StatePaused,
	"Saved":    hypervisor.StateSaved,
	"Starting": hypervisor.StateStarting,
	"Stopping": hypervisor.StateStopping,
	// Saving writes memory to disk on the way to Saved.
	"Saving": hypervisor.StateStopping,
	// Pausing freezes the CPUs on the way to Paused.
	"Pausing": hypervisor.StatePaused,
	// Resuming restores a paused or saved VM on the way to Running.
	"Resuming": hypervisor.StateStarting,
	// Reset restarts the VM, which comes back Running.
	"Reset": hypervisor.StateStarting,
	// FastSaved and FastSaving keep memory in a host file for a quick
	// restore, as Saved and Saving do.
	"FastSaved":          hypervisor.StateSaved,
	"FastSaving":         hypervisor.StateStopping,
	"Other":              hypervisor.StateUnknown,
	"RunningCritical":    hypervisor.StateFailed,
	"OffCritical":        hypervisor.StateFailed,
	"StoppingCritical":   hypervisor.StateFailed,
	"SavedCritical":      hypervisor.StateFailed,
	"PausedCritical":     hypervisor.StateFailed,
	"StartingCritical":   hypervisor.StateFailed,
	"ResetCritical":      hypervisor.StateFailed,
	"SavingCritical":     hypervisor.StateFailed,
	"PausingCritical":    hypervisor.StateFailed,
	"ResumingCritical":   hypervisor.StateFailed,
	"FastSavedCritical":  hypervisor.StateFailed,
	"FastSavingCritical": hypervisor.StateFailed,
}

// mapState returns the driver's state for a Hyper-V state name; names it
// does not know are StateUnknown.
func mapState(hyperV string) hypervisor.State {
	for name, st := range stateMap {
		if strings.EqualFold(name, hyperV) {
			return st
		}
	}
	return hypervisor.StateUnknown
}

// action is the step an operation takes in the VM's current state.
type action int

const (
	actNone    action = iota // already in the target state
	actRun                   // run the operation's script
	actResume                // resume first, then run the operation (Stop of a paused VM)
	actDiscard               // discard the saved state (forced Stop of a saved VM)
)

// planStart decides what Start does in state st.
func planStart(id string, st hypervisor.State) (action, error) {
	switch st {
	case hypervisor.StateRunning:
		return actNone, nil
	case hypervisor.StateOff, hypervisor.StateSaved:
		return actRun, nil
	case hypervisor.StatePaused:
		return 0, hypervisor.InvalidState(driverName, "start", id, st, "run resume instead")
	}
	return 0, transitional("start", id, st)
}

// planStop decides what Stop does in state st.
func planStop(id string, st hypervisor.State, force bool) (action, error) {
	switch st {
	case hypervisor.StateOff:
		return actNone, nil
	case hypervisor.StateRunning:
		return actRun, nil
	case hypervisor.StatePaused:
		if force {
			return actRun, nil
		}
		return actResume, nil
	case hypervisor.StateSaved:
		if force {
			return actDiscard, nil
		}
		return 0, hypervisor.InvalidState(driverName, "stop", id, st,
			"start it and stop it again, or stop with force to discard the saved memory")
	case hypervisor.StateFailed:
		if force {
			return actRun, nil
		}
		return 0, hypervisor.InvalidState(driverName, "stop", id, st, "stop with force to turn it off")
	}
	return 0, transitional("stop", id, st)
}

// planPause decides what Pause does in state st.
func planPause(id string, st hypervisor.State) (action, error) {
	switch st {
	case hypervisor.StatePaused:
		return actNone, nil
	case hypervisor.StateRunning:
		return actRun, nil
	case hypervisor.StateOff, hypervisor.StateSaved:
		return 0, hypervisor.InvalidState(driverName, "pause", id, st, "start it first")
	}
	return 0, transitional("pause", id, st)
}

// planResume decides what Resume does in state st.
func planResume(id string, st hypervisor.State) (action, error) {
	switch st {
	case hypervisor.StateRunning:
		return actNone, nil
	case hypervisor.StatePaused:
		return actRun, nil
	case hypervisor.StateOff, hypervisor.StateSaved:
		return 0, hypervisor.InvalidState(driverName, "resume", id, st, "run start instead")
	}
	return 0, transitional("resume", id, st)
}

// planDelete decides whether Delete may remove a VM in state st.
func planDelete(id string, st hypervisor.State, force bool) (action, error) {
	if st == hypervisor.StateOff || st == hypervisor.StateSaved || force {
		return actRun, nil
	}
	return 0, hypervisor.InvalidState(driverName, "delete", id, st, "stop it first, or delete with force")
}

func transitional(op, id string, st hypervisor.State) error {
	switch st {
	case hypervisor.StateStarting, hypervisor.StateStopping:
		return hypervisor.InvalidState(driverName, op, id, st, "wait until the change finishes, then retry")
	case hypervisor.StateFailed:
		return hypervisor.InvalidState(driverName, op, id, st, "check the VM's storage in Hyper-V Manager, then stop it with force")
	}
	return hypervisor.InvalidState(driverName, op, id, st, "check the VM in Hyper-V Manager")
}
