package hyperv

import (
	"strings"
	"testing"
	"time"

	"github.com/vmgenie/vmgenie/internal/hypervisor"
)

func TestSelectAddresses(t *testing.T) {
	cases := []struct {
		name     string
		reported []string
		want     []string
	}{
		{"IPv4 before link-local", []string{"fe80::215:5dff:fe00:10", "192.0.2.10"}, []string{"192.0.2.10:22", "[fe80::215:5dff:fe00:10]:22"}},
		{"global IPv6 before link-local", []string{"fe80::1", "2001:db8::10"}, []string{"[2001:db8::10]:22", "[fe80::1]:22"}},
		{"IPv4 before global IPv6", []string{"2001:db8::10", "192.0.2.10"}, []string{"192.0.2.10:22", "[2001:db8::10]:22"}},
		{"IPv4 link-local after IPv6 global", []string{"169.254.3.4", "2001:db8::1"}, []string{"[2001:db8::1]:22", "169.254.3.4:22"}},
		{"report order among equals", []string{"192.0.2.20", "192.0.2.10"}, []string{"192.0.2.20:22", "192.0.2.10:22"}},
		{"junk, loopback and duplicates dropped", []string{"", "not-an-ip", "127.0.0.1", "::1", "0.0.0.0", "224.0.0.1", "192.0.2.10", " 192.0.2.10 "}, []string{"192.0.2.10:22"}},
		{"mapped IPv4 unmapped", []string{"::ffff:192.0.2.10"}, []string{"192.0.2.10:22"}},
		{"zone dropped", []string{"fe80::1%eth0"}, []string{"[fe80::1]:22"}},
		{"none", nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eps := selectAddresses(tc.reported, 22)
			var got []string
			for _, ep := range eps {
				got = append(got, ep.String())
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("selectAddresses(%q) = %q, want %q", tc.reported, got, tc.want)
			}
		})
	}
}

func TestNeighborAddressesSkipsUnreachable(t *testing.T) {
	got := neighborAddresses([]neighbor{{"192.0.2.1", "Unreachable"}, {"192.0.2.2", "Incomplete"}, {"192.0.2.3", "Stale"}, {"192.0.2.4", "Reachable"}})
	if strings.Join(got, " ") != "192.0.2.3 192.0.2.4" {
		t.Errorf("neighborAddresses = %q, want the Stale and Reachable entries", got)
	}
}

func TestAddressTimeoutErrorExplains(t *testing.T) {
	err := addressTimeoutError("vm-id", 3*time.Minute, addressReport{MAC: "00155D010203", KVPStatus: "No Contact"})
	msg := err.Error()
	for _, want := range []string{"hv_kvp_daemon", "hyperv-daemons", "linux-cloud-tools", "No Contact", "00:15:5d:01:02:03", "3m0s"} {
		if !strings.Contains(msg, want) {
			t.Errorf("timeout error lacks %q: %s", want, msg)
		}
	}
}

func TestEndpointJoinsIPv6(t *testing.T) {
	ep := hypervisor.Endpoint{Host: "2001:db8::1", Port: 2222}
	if ep.String() != "[2001:db8::1]:2222" {
		t.Errorf("Endpoint.String() = %q", ep.String())
	}
}
