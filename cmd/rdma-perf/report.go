package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"time"
)

// latResult is one latency size, with perftest's definitions (see
// latency).
type latResult struct {
	Mode    string  `json:"mode"`
	Bytes   int     `json:"bytes"`
	Iters   int     `json:"iterations"`
	Min     float64 `json:"t_min_us"`
	Max     float64 `json:"t_max_us"`
	Typical float64 `json:"t_typical_us"`
	Avg     float64 `json:"t_avg_us"`
	Stdev   float64 `json:"t_stdev_us"`
	P99     float64 `json:"p99_us"`
	P999    float64 `json:"p99_9_us"`
	// CPUMHz is the cycles' rate the times were computed with, found as
	// perftest finds its own (cyclesPerNS).
	CPUMHz float64 `json:"cpu_mhz"`
	// Unsorted are all the differences in the order of the iterations
	// (-U, perftest's --report-unsorted), the tail included.
	Unsorted []float64 `json:"unsorted_us,omitempty"`
}

// latMeasureTail is how many of the largest differences perftest leaves
// out of its statistics (LAT_MEASURE_TAIL).
const latMeasureTail = 2

// latency computes a latResult from the post times (cycles) as perftest's
// print_report_lat does: the differences between consecutive posts,
// halved for ping-pong (send, write) and whole for reads, sorted; the
// latMeasureTail largest are left out, and of the cnt kept, typical is the
// median, the average and deviation are theirs, max is the next difference
// (index cnt), and p99 and p99.9 are those at index ⌈cnt·0.99⌉ and
// ⌈cnt·0.999⌉ (counting from 0). The deviation is computed in floating
// point, where perftest truncates to integers. With unsorted, the result
// also keeps every difference in the order of the iterations (-U).
func latency(mode string, size int, stamps []int64, unsorted bool) latResult {
	d := samples(mode, stamps)
	var all []float64
	if unsorted {
		all = slices.Clone(d)
	}
	slices.Sort(d)
	cnt := max(len(d)-latMeasureTail, 1)
	at := func(i int) float64 { return d[min(i, len(d)-1)] }
	kept := d[:cnt]
	var sum, sq float64
	for _, v := range kept {
		sum += v
	}
	avg := sum / float64(cnt)
	for _, v := range kept {
		sq += (v - avg) * (v - avg)
	}
	pct := func(p float64) float64 { return at(int(math.Ceil(float64(cnt) * p))) }
	return latResult{Mode: mode, Bytes: size, Iters: len(stamps), CPUMHz: cyclesPerNS() * 1e3, Min: d[0], Max: at(cnt), Typical: median(kept), Avg: avg,
		Stdev: math.Sqrt(sq / float64(cnt)), P99: pct(0.99), P999: pct(0.999), Unsorted: all}
}

// median is the middle of sorted, or the mean of the middle two.
func median[T ~int64 | ~float64](sorted []T) T {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// samples are the differences between consecutive post times (cycles) in
// microseconds, halved for ping-pong, in the order of the iterations.
func samples(mode string, stamps []int64) []float64 {
	d := make([]float64, len(stamps)-1)
	factor := 2.0
	perUS := cyclesPerNS() * 1e3
	if mode == modeReadLat {
		factor = 1
	}
	for i := range d {
		d[i] = float64(stamps[i+1]-stamps[i]) / perUS / factor
	}
	return d
}

// bandwidth computes a bwResult; MB is 2^20 bytes, as perftest prints.
func bandwidth(size, iters int, elapsed time.Duration) bwResult {
	s := elapsed.Seconds()
	return bwResult{Mode: modeWriteBW, Bytes: size, Iters: iters, BWAvg: float64(size) * float64(iters) / s / (1 << 20),
		MsgRate: float64(iters) / s / 1e6}
}

// cmStep is one cmtime step: the wall time of the step over all
// connections, that divided by the connections, and the slowest and
// fastest connection's time, as cmtime prints; and the median
// connection's, which cmtime does not print.
type cmStep struct {
	Step     string  `json:"step"`
	TotalMS  float64 `json:"total_ms"`
	MaxMS    float64 `json:"max_ms"`
	MinUS    float64 `json:"min_us"`
	USConn   float64 `json:"us_per_conn"`
	MedianUS float64 `json:"median_us"`
}

// cmResult is a cmtime pass. Passes after the first in a process run code
// and memory the first has already brought in: the steady state of a
// long-running program.
type cmResult struct {
	Mode  string   `json:"mode"`
	Pass  int      `json:"pass"`
	Conns int      `json:"connections"`
	Steps []cmStep `json:"steps"`
}

// reporter prints results as perftest-like tables or JSON lines.
type reporter struct {
	w      io.Writer
	json   bool
	header bool
}

func newReporter(c *config, w io.Writer) *reporter { return &reporter{w: w, json: c.json} }

const rule = "---------------------------------------------------------------------------------------"

func (r *reporter) emit(v any) error {
	if r.json {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(r.w, "%s\n", b)
		return err
	}
	var err error
	switch v := v.(type) {
	case bwResult:
		if !r.header {
			fmt.Fprintf(r.w, "%s\n %-10s %-13s %-20s %-20s %s\n", rule, "#bytes", "#iterations", "BW peak[MB/sec]",
				"BW average[MB/sec]", "MsgRate[Mpps]")
		}
		_, err = fmt.Fprintf(r.w, " %-10d %-13d %-20s %-20.2f %.6f\n", v.Bytes, v.Iters, "-", v.BWAvg, v.MsgRate)
	case latResult:
		if len(v.Unsorted) > 0 {
			// As perftest: the samples, then the table's header again.
			fmt.Fprintf(r.w, "#, usec\n")
			for i, d := range v.Unsorted {
				fmt.Fprintf(r.w, "%d, %g\n", i+1, d)
			}
			r.header = false
		}
		if !r.header {
			fmt.Fprintf(r.w, "%s\n %-8s %-12s %-13s %-13s %-17s %-13s %-14s %-24s %s\n", rule, "#bytes", "#iterations",
				"t_min[usec]", "t_max[usec]", "t_typical[usec]", "t_avg[usec]", "t_stdev[usec]", "99% percentile[usec]",
				"99.9% percentile[usec]")
		}
		_, err = fmt.Fprintf(r.w, " %-8d %-12d %-13.2f %-13.2f %-17.2f %-13.2f %-14.2f %-24.2f %.2f\n", v.Bytes, v.Iters,
			v.Min, v.Max, v.Typical, v.Avg, v.Stdev, v.P99, v.P999)
	case cmResult:
		if v.Pass > 1 {
			fmt.Fprintf(r.w, "pass %d\n", v.Pass)
		}
		fmt.Fprintf(r.w, "step              total ms     max ms     min us  us / conn  median us\n")
		for _, s := range v.Steps {
			if _, err = fmt.Fprintf(r.w, "%-13s: %11.2f%11.2f%11.2f%11.2f%11.2f\n", s.Step, s.TotalMS, s.MaxMS, s.MinUS, s.USConn, s.MedianUS); err != nil {
				return err
			}
		}
	}
	r.header = true
	return err
}

// end closes a table.
func (r *reporter) end() {
	if !r.json && r.header {
		fmt.Fprintln(r.w, rule)
	}
}
