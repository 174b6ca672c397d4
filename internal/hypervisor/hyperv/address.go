package hyperv

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/vmgenie/vmgenie/internal/hypervisor"
	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/pshost"
	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/scripts"
)

// addressReport is the output of vm-addresses.ps1.
type addressReport struct {
	State        string     `json:"state"`
	MAC          string     `json:"mac"`
	KVPAddresses []string   `json:"kvp_addresses"`
	Neighbors    []neighbor `json:"neighbors"`
	KVPEnabled   bool       `json:"kvp_enabled"`
	KVPStatus    string     `json:"kvp_status"`
}

// neighbor is one entry of the host's neighbour table (Get-NetNeighbor).
type neighbor struct {
	IP    string `json:"ip"`
	State string `json:"state"`
}

// addressRank orders addresses, lowest first: IPv4, then global IPv6
// (unique local included), then IPv4 link-local, then IPv6 link-local. A
// link-local IPv6 address needs a zone the host side does not know, so it
// comes last.
func addressRank(a netip.Addr) int {
	switch {
	case a.Is4() && !a.IsLinkLocalUnicast():
		return 0
	case a.Is6() && !a.IsLinkLocalUnicast():
		return 1
	case a.Is4():
		return 2
	default:
		return 3
	}
}

// selectAddresses turns reported address strings into endpoints on port,
// best first. It drops strings that are not unicast IP addresses and
// duplicates, and keeps the report's order among equals.
func selectAddresses(reported []string, port int) []hypervisor.Endpoint {
	seen := map[netip.Addr]bool{}
	var addrs []netip.Addr
	for _, s := range reported {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			continue
		}
		a = a.Unmap().WithZone("")
		if !a.IsValid() || a.IsUnspecified() || a.IsLoopback() || a.IsMulticast() || seen[a] {
			continue
		}
		seen[a] = true
		addrs = append(addrs, a)
	}
	sort.SliceStable(addrs, func(i, j int) bool { return addressRank(addrs[i]) < addressRank(addrs[j]) })
	eps := make([]hypervisor.Endpoint, 0, len(addrs))
	for _, a := range addrs {
		eps = append(eps, hypervisor.Endpoint{Host: a.String(), Port: port})
	}
	return eps
}

// neighborAddresses returns the neighbour table's addresses for the VM's
// MAC, leaving out entries Windows could not confirm.
func neighborAddresses(entries []neighbor) []string {
	var out []string
	for _, n := range entries {
		switch n.State {
		case "Unreachable", "Incomplete":
			continue
		}
		out = append(out, n.IP)
	}
	return out
}

// Addresses returns the guest's SSH endpoints, best first: the addresses
// key-value pair exchange reports or, when it reports none, the neighbour
// table's entries for the VM's MAC address.
func (d *Driver) Addresses(ctx context.Context, id string) ([]hypervisor.Endpoint, error) {
	eps, _, err := d.addresses(ctx, id)
	return eps, err
}

func (d *Driver) addresses(ctx context.Context, id string) ([]hypervisor.Endpoint, addressReport, error) {
	rec, err := d.find("addresses", id)
	if err != nil {
		return nil, addressReport{}, err
	}
	var rep addressReport
	input := map[string]string{"id": rec.ID, "kvp_service_id": KVPIntegrationServiceID}
	if err := d.call(ctx, "addresses", id, scripts.VMAddresses, input, &rep, pshost.CallOptions{}); err != nil {
		return nil, rep, err
	}
	st := mapState(rep.State)
	if st != hypervisor.StateRunning && st != hypervisor.StatePaused {
		return nil, rep, hypervisor.InvalidState(driverName, "addresses", id, st, "start it first")
	}
	eps := selectAddresses(rep.KVPAddresses, rec.SSHPort)
	if len(eps) == 0 {
		eps = selectAddresses(neighborAddresses(rep.Neighbors), rec.SSHPort)
		if len(eps) > 0 {
			d.log.Info("using the neighbour table, because key-value pair exchange reported no address", "vm", id, "mac", rep.MAC)
		}
	}
	return eps, rep, nil
}

// WaitAddresses polls Addresses every interval until the guest reports an
// endpoint or timeout passes. The timeout error explains the usual cause:
// a guest without the key-value pair exchange daemon.
func (d *Driver) WaitAddresses(ctx context.Context, id string, timeout, interval time.Duration) ([]hypervisor.Endpoint, error) {
	if interval <= 0 {
		interval = 2 * time.Second
	}
	deadline := time.Now().Add(timeout)
	for {
		eps, rep, err := d.addresses(ctx, id)
		if err != nil {
			return nil, err
		}
		if len(eps) > 0 {
			return eps, nil
		}
		if !time.Now().Add(interval).Before(deadline) {
			return nil, addressTimeoutError(id, timeout, rep)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: wait for the address of %q: %w", driverName, id, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// addressTimeoutError explains why no address came within timeout.
func addressTimeoutError(id string, timeout time.Duration, rep addressReport) error {
	status := rep.KVPStatus
	if status == "" {
		status = "unknown"
	}
	mac := rep.MAC
	if hw, err := net.ParseMAC(macWithColons(mac)); err == nil {
		mac = hw.String()
	}
	return fmt.Errorf("%s: VM %q reported no IP address within %s. Hyper-V learns guest addresses through the key-value pair exchange "+
		"integration service (status: %s), which needs the hv_kvp_daemon service running in the guest; it comes in the "+
		"hyperv-daemons package (Debian, Fedora, RHEL) or linux-cloud-tools-virtual (Ubuntu). "+
		"Install it in the image or through cloud-init packages, and check that the switch gives out addresses: "+
		"the host's neighbour table has no reachable entry for the VM's MAC address %s either",
		driverName, id, timeout, status, mac)
}

// macWithColons turns Hyper-V's 00155D010203 into 00:15:5d:01:02:03.
func macWithColons(mac string) string {
	if len(mac) != 12 {
		return mac
	}
	parts := make([]string, 0, 6)
	for i := 0; i < 12; i += 2 {
		parts = append(parts, mac[i:i+2])
	}
	return strings.ToLower(strings.Join(parts, ":"))
}
