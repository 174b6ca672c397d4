package hyperv

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/pshost"
	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/scripts"
)

// Switch is a Hyper-V virtual switch.
type Switch struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Type is External, Internal or Private.
	Type string `json:"type"`
	// Default is true for the Default Switch.
	Default bool `json:"default"`
}

// ErrSwitchNotFound marks a switch name or id that matches no switch.
var ErrSwitchNotFound = errors.New("virtual switch not found")

// ListSwitches returns the host's virtual switches, the Default Switch
// first and the rest by name.
func ListSwitches(ctx context.Context, host *pshost.Host) ([]Switch, error) {
	var out struct {
		Switches []Switch `json:"switches"`
	}
	if err := host.Call(ctx, scripts.ListSwitches, struct{}{}, &out, pshost.CallOptions{}); err != nil {
		return nil, fmt.Errorf("list Hyper-V switches: %w", err)
	}
	for i := range out.Switches {
		out.Switches[i].ID = strings.ToLower(out.Switches[i].ID)
		out.Switches[i].Default = out.Switches[i].ID == DefaultSwitchID
	}
	sort.SliceStable(out.Switches, func(i, j int) bool {
		a, b := out.Switches[i], out.Switches[j]
		if a.Default != b.Default {
			return a.Default
		}
		return a.Name < b.Name
	})
	return out.Switches, nil
}

// ListSwitches returns the host's virtual switches.
func (d *Driver) ListSwitches(ctx context.Context) ([]Switch, error) {
	return ListSwitches(ctx, d.host)
}

// resolveSwitch picks the switch that want names: an id, or else an exact
// name, or else a name that differs only in case. An empty want means the
// Default Switch, found by its id because its name is translated.
func resolveSwitch(switches []Switch, want string) (Switch, error) {
	if want == "" {
		for _, s := range switches {
			if s.ID == DefaultSwitchID {
				return s, nil
			}
		}
		return Switch{}, fmt.Errorf("%w: the Default Switch (id %s) does not exist on this host; %s",
			ErrSwitchNotFound, DefaultSwitchID, switchHint(switches))
	}
	if guidPattern.MatchString(want) {
		for _, s := range switches {
			if strings.EqualFold(s.ID, want) {
				return s, nil
			}
		}
	}
	for _, s := range switches {
		if s.Name == want {
			return s, nil
		}
	}
	var folded []Switch
	for _, s := range switches {
		if strings.EqualFold(s.Name, want) {
			folded = append(folded, s)
		}
	}
	switch len(folded) {
	case 1:
		return folded[0], nil
	case 0:
		return Switch{}, fmt.Errorf("%w: no switch has the name or id %q; %s", ErrSwitchNotFound, want, switchHint(switches))
	}
	return Switch{}, fmt.Errorf("%w: %d switches match %q when case is ignored; give the switch id instead; %s",
		ErrSwitchNotFound, len(folded), want, switchHint(switches))
}

// switchHint lists the switches that exist, for error messages.
func switchHint(switches []Switch) string {
	if len(switches) == 0 {
		return "this host has no virtual switches; create one in Hyper-V Manager (Virtual Switch Manager) or with New-VMSwitch"
	}
	parts := make([]string, 0, len(switches))
	for _, s := range switches {
		parts = append(parts, fmt.Sprintf("%q (%s, id %s)", s.Name, s.Type, s.ID))
	}
	return "the switches that exist are " + strings.Join(parts, ", ") + "; pass one of them by name or id"
}
