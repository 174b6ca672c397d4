package pshost_test

import (
	"context"
	"testing"
	"time"

	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/hypervtest"
	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/pshost"
	"github.com/vmgenie/vmgenie/internal/hypervisor/hyperv/scripts"
)

// BenchmarkWarmCall compares a call through the long-lived host process
// with a call in a process of its own. Both sides run the test binary as
// the Hyper-V double, so the one-shot side pays a real process start. A
// Go test binary starts far faster than powershell.exe, which must also
// load the .NET runtime and the Hyper-V module, so the ratio on Windows is
// larger than the one measured here.
func BenchmarkWarmCall(b *testing.B) {
	for _, mode := range []pshost.Mode{pshost.ModeHost, pshost.ModeOneShot} {
		b.Run(string(mode), func(b *testing.B) {
			model := hypervtest.NewModel(hypervtest.Options{})
			starter, err := hypervtest.NewProcessStarter(b.TempDir(), model)
			if err != nil {
				b.Fatal(err)
			}
			h, err := pshost.New(pshost.Config{Starter: starter, Logger: quietLogger(), MaxProcesses: 1})
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			ctx := context.Background()
			var out switchList
			// The first call starts the long-lived process; it is not timed.
			if err := h.Call(ctx, scripts.ListSwitches, struct{}{}, &out, pshost.CallOptions{Mode: mode}); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := h.Call(ctx, scripts.ListSwitches, struct{}{}, &out, pshost.CallOptions{Mode: mode}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWarmCallRatio alternates one call through the long-lived host
// with one call in a process of its own, so that both sides see the same
// machine load. It reports each side's mean time per call and their ratio
// (one-shot time divided by host time).
func BenchmarkWarmCallRatio(b *testing.B) {
	model := hypervtest.NewModel(hypervtest.Options{})
	starter, err := hypervtest.NewProcessStarter(b.TempDir(), model)
	if err != nil {
		b.Fatal(err)
	}
	h, err := pshost.New(pshost.Config{Starter: starter, Logger: quietLogger(), MaxProcesses: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	ctx := context.Background()
	var out switchList
	call := func(mode pshost.Mode) time.Duration {
		began := time.Now()
		if err := h.Call(ctx, scripts.ListSwitches, struct{}{}, &out, pshost.CallOptions{Mode: mode}); err != nil {
			b.Fatal(err)
		}
		return time.Since(began)
	}
	call(pshost.ModeHost)
	var host, oneShot time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		host += call(pshost.ModeHost)
		oneShot += call(pshost.ModeOneShot)
	}
	b.ReportMetric(float64(host.Nanoseconds())/float64(b.N), "host-ns/call")
	b.ReportMetric(float64(oneShot.Nanoseconds())/float64(b.N), "oneshot-ns/call")
	b.ReportMetric(float64(oneShot)/float64(host), "oneshot/host")
}
