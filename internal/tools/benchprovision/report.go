//go:build linux

package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// measurement is one provisioning by one side. Times run from the request
// (vmgenie) or from the first command (baseline).
type measurement struct {
	side  string // "vmgenie" or "baseline"
	round int
	// qemuStart is the time until QEMU's pid file appeared, and
	// qemuStartFromStep the part of it after the start_vm progress line
	// (vmgenie) or after the QEMU command was run (baseline). Both are -1
	// when the pid file was not seen.
	qemuStart         time.Duration
	qemuStartFromStep time.Duration
	toSSH             time.Duration
	toCloudInit       time.Duration
	// toReady is when the final response arrived; for the baseline it is
	// toCloudInit.
	toReady time.Duration
	// stages is when each progress stage was first reported, in the order
	// of order.
	stages        map[string]time.Duration
	order         []string
	overlay       overlaySize
	qemuImgActual int64
	// guestUptime is the guest's uptime when cloud-init finished, from the
	// serial log, or -1 when unknown.
	guestUptime time.Duration
	// events are the service's own log lines (vmgenie only).
	events     serviceEvents
	loadBefore string
	loadAfter  string
}

func seconds(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f s", d.Seconds())
}

func printMeasurement(m measurement) {
	fmt.Printf("round %d %-8s  QEMU pid file %s (%s after %s)  SSH %s  cloud-init done %s  overlay %d B allocated (qemu-img actual-size %d B, file size %d B)  load %s -> %s\n",
		m.round, m.side, seconds(m.qemuStart), seconds(m.qemuStartFromStep), stepName(m.side),
		seconds(m.toSSH), seconds(m.toCloudInit), m.overlay.allocated, m.qemuImgActual, m.overlay.apparent,
		m.loadBefore, m.loadAfter)
	fmt.Printf("    guest uptime at cloud-init done %s; then noticed after %s\n", seconds(m.guestUptime), seconds(m.noticedAfter()))
	if m.side == "vmgenie" {
		fmt.Printf("    service log: SSH is up at %s after %d attempt(s), cloud-init finished at %s\n",
			seconds(m.events.sshUp), m.events.sshAttempts, seconds(m.events.cloudInitDone))
		var parts []string
		for _, stage := range m.order {
			parts = append(parts, fmt.Sprintf("%s %.3f", stage, m.stages[stage].Seconds()))
		}
		fmt.Printf("    progress lines (s after the request): %s; final response %.3f\n", strings.Join(parts, ", "), m.toReady.Seconds())
	}
}

// noticedAfter returns how long after cloud-init finished in the guest
// the side reported it done: the time to cloud-init done minus the time to
// QEMU's start and the guest's uptime. The guest's clock starts when its
// kernel does, shortly after QEMU, so this is an upper bound, alike for
// both sides.
func (m measurement) noticedAfter() time.Duration {
	if m.guestUptime < 0 || m.qemuStart < 0 {
		return -1
	}
	return m.toCloudInit - m.qemuStart - m.guestUptime
}

// outsideBoot returns the time spent outside the guest's own boot: before
// QEMU ran and after cloud-init finished, or -1 when unknown.
func (m measurement) outsideBoot() time.Duration {
	noticed := m.noticedAfter()
	if noticed < 0 {
		return -1
	}
	return m.qemuStart + noticed
}

func stepName(side string) string {
	if side == "vmgenie" {
		return "the start_vm line"
	}
	return "running QEMU"
}

// median returns the median of the known (non-negative) values, or -1
// when none is known.
func median(values []time.Duration) time.Duration {
	sorted := slices.DeleteFunc(slices.Clone(values), func(d time.Duration) bool { return d < 0 })
	if len(sorted) == 0 {
		return -1
	}
	slices.Sort(sorted)
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func medianFloat(values []float64) float64 {
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// series collects one field of one side's measurements.
func series(results []measurement, side string, field func(measurement) time.Duration) []time.Duration {
	var out []time.Duration
	for _, m := range results {
		if m.side == side {
			out = append(out, field(m))
		}
	}
	return out
}

func printSummary(results []measurement, loadBefore, loadAfter string) {
	fmt.Println("| round | side | request to QEMU pid file | SSH answers | cloud-init done | guest uptime at cloud-init done | noticed after | overlay allocated at creation |")
	fmt.Println("|---|---|---:|---:|---:|---:|---:|---:|")
	for _, m := range results {
		fmt.Printf("| %d | %s | %s | %s | %s | %s | %s | %d B |\n", m.round, m.side, seconds(m.qemuStart), seconds(m.toSSH),
			seconds(m.toCloudInit), seconds(m.guestUptime), seconds(m.noticedAfter()), m.overlay.allocated)
	}
	for _, side := range []string{"vmgenie", "baseline"} {
		fmt.Printf("| median | %s | %s | %s | %s | %s | %s | |\n", side,
			seconds(median(series(results, side, func(m measurement) time.Duration { return m.qemuStart }))),
			seconds(median(series(results, side, func(m measurement) time.Duration { return m.toSSH }))),
			seconds(median(series(results, side, func(m measurement) time.Duration { return m.toCloudInit }))),
			seconds(median(series(results, side, func(m measurement) time.Duration { return m.guestUptime }))),
			seconds(median(series(results, side, measurement.noticedAfter))))
	}
	fmt.Println()

	sshV := median(series(results, "vmgenie", func(m measurement) time.Duration { return m.toSSH }))
	sshB := median(series(results, "baseline", func(m measurement) time.Duration { return m.toSSH }))
	ciV := median(series(results, "vmgenie", func(m measurement) time.Duration { return m.toCloudInit }))
	ciB := median(series(results, "baseline", func(m measurement) time.Duration { return m.toCloudInit }))
	sshRatio := sshV.Seconds() / sshB.Seconds()
	ciRatio := ciV.Seconds() / ciB.Seconds()
	fmt.Printf("ratio of medians, vmgenie / baseline: time to SSH %.3f (overhead %+.1f%%), time to cloud-init done %.3f (overhead %+.1f%%)\n",
		sshRatio, (sshRatio-1)*100, ciRatio, (ciRatio-1)*100)

	// Each round's pair ran back to back, so load changes less within a
	// pair than across rounds.
	var pairSSH, pairCI []float64
	for i := 0; i+1 < len(results); i += 2 {
		v, b := results[i], results[i+1]
		pairSSH = append(pairSSH, v.toSSH.Seconds()/b.toSSH.Seconds())
		pairCI = append(pairCI, v.toCloudInit.Seconds()/b.toCloudInit.Seconds())
	}
	fmt.Printf("median of the per-round ratios: time to SSH %.3f, time to cloud-init done %.3f (per round: SSH %s; cloud-init %s)\n",
		medianFloat(pairSSH), medianFloat(pairCI), formatRatios(pairSSH), formatRatios(pairCI))

	// The guest's own boot time swings with the load on the host, by more
	// than the difference between the sides. The time outside the guest's
	// boot (before QEMU runs, and after cloud-init finished until the side
	// reports it) varies far less, so it estimates vmgenie's overhead with
	// less noise.
	outsideV := median(series(results, "vmgenie", measurement.outsideBoot))
	outsideB := median(series(results, "baseline", measurement.outsideBoot))
	if outsideV >= 0 && outsideB >= 0 {
		fmt.Printf("time outside the guest's boot (to QEMU plus noticed after), medians: vmgenie %s, baseline %s; the difference, %s, is %.1f%% of the baseline's median time to cloud-init done\n",
			seconds(outsideV), seconds(outsideB), seconds(outsideV-outsideB), (outsideV-outsideB).Seconds()/ciB.Seconds()*100)
	}
	fmt.Printf("load average: %s before, %s after\n\n", loadBefore, loadAfter)

	qemuV := series(results, "vmgenie", func(m measurement) time.Duration { return m.qemuStart })
	var overlayMax int64
	for _, m := range results {
		if m.side == "vmgenie" {
			overlayMax = max(overlayMax, m.overlay.allocated, m.qemuImgActual)
		}
	}
	fmt.Println("targets:")
	printTarget(fmt.Sprintf("vmgenie's overhead over the baseline at most %.0f%% (medians)", targetOverheadPercent),
		(sshRatio-1)*100 <= targetOverheadPercent && (ciRatio-1)*100 <= targetOverheadPercent,
		fmt.Sprintf("SSH %+.1f%%, cloud-init done %+.1f%%", (sshRatio-1)*100, (ciRatio-1)*100))
	qemuMedian, qemuMax := median(qemuV), slices.Max(qemuV)
	printTarget(fmt.Sprintf("request to QEMU process under %s", targetToQEMU),
		!slices.Contains(qemuV, -1) && qemuMax < targetToQEMU,
		fmt.Sprintf("median %s, max %s", seconds(qemuMedian), seconds(qemuMax)))
	printTarget(fmt.Sprintf("overlay under %d bytes at creation", targetOverlayBytes),
		overlayMax < targetOverlayBytes, fmt.Sprintf("at most %d B allocated", overlayMax))
}

func formatRatios(ratios []float64) string {
	parts := make([]string, len(ratios))
	for i, r := range ratios {
		parts[i] = fmt.Sprintf("%.3f", r)
	}
	return strings.Join(parts, ", ")
}

func printTarget(name string, met bool, detail string) {
	verdict := "NOT MET"
	if met {
		verdict = "met"
	}
	fmt.Printf("  %-60s %-8s %s\n", name, verdict, detail)
}
