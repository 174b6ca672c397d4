package hyperv

import (
	"errors"
	"strings"
	"testing"
)

func TestResolveSwitch(t *testing.T) {
	switches := []Switch{
		{ID: DefaultSwitchID, Name: "Przełącznik domyślny", Type: "Internal", Default: true},
		{ID: "6f1c2b4e-93a7-4d0e-b1f5-2a8c7d9e0f11", Name: "External LAN", Type: "External"},
		{ID: "0d3e5a71-4c2b-4f8e-9a6d-1b7c3e5f9a22", Name: "lab", Type: "Private"},
		{ID: "7a9b1c3d-5e7f-4a1b-8c2d-3e4f5a6b7c8d", Name: "LAB", Type: "Private"},
	}
	cases := []struct {
		want   string
		wantID string
	}{
		{"", DefaultSwitchID},
		{"External LAN", "6f1c2b4e-93a7-4d0e-b1f5-2a8c7d9e0f11"},
		{"external lan", "6f1c2b4e-93a7-4d0e-b1f5-2a8c7d9e0f11"},
		{"6F1C2B4E-93A7-4D0E-B1F5-2A8C7D9E0F11", "6f1c2b4e-93a7-4d0e-b1f5-2a8c7d9e0f11"},
		{"Przełącznik domyślny", DefaultSwitchID},
		{"lab", "0d3e5a71-4c2b-4f8e-9a6d-1b7c3e5f9a22"},
		{"LAB", "7a9b1c3d-5e7f-4a1b-8c2d-3e4f5a6b7c8d"},
	}
	for _, tc := range cases {
		got, err := resolveSwitch(switches, tc.want)
		if err != nil {
			t.Errorf("resolveSwitch(%q): %v", tc.want, err)
			continue
		}
		if got.ID != tc.wantID {
			t.Errorf("resolveSwitch(%q) = %s, want %s", tc.want, got.ID, tc.wantID)
		}
	}
}

func TestResolveSwitchErrorsListSwitches(t *testing.T) {
	noDefault := []Switch{{ID: "6f1c2b4e-93a7-4d0e-b1f5-2a8c7d9e0f11", Name: "External LAN", Type: "External"}}
	cases := []struct {
		name     string
		switches []Switch
		want     string
		mention  []string
	}{
		{"no Default Switch", noDefault, "", []string{"Default Switch", DefaultSwitchID, `"External LAN" (External, id 6f1c2b4e`}},
		{"unknown name", noDefault, "Wi-Fi", []string{`"Wi-Fi"`, `"External LAN"`}},
		{"no switches", nil, "", []string{"New-VMSwitch"}},
		{"ambiguous case", []Switch{{ID: "a", Name: "lab"}, {ID: "b", Name: "Lab"}}, "LAB", []string{"2 switches match", "give the switch id"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := resolveSwitch(tc.switches, tc.want)
			if !errors.Is(err, ErrSwitchNotFound) {
				t.Fatalf("err = %v, want ErrSwitchNotFound", err)
			}
			for _, m := range tc.mention {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error lacks %q: %v", m, err)
				}
			}
		})
	}
}
