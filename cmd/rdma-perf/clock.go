package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-rdma/rdma/verbs"
)

// cyclesPerNS is the rate of cycles, found once as perftest's get_cpu_mhz
// finds it, so that both tools turn cycles into time with the same figure:
// the first "cpu MHz" of /proc/cpuinfo when the cycles are the time-stamp
// counter's, unless a measured rate (sampleMHz) differs from it by more
// than 2 %; else the measured rate. (perftest gives up where its
// measurement is too scattered; rdma-perf then takes /proc/cpuinfo's.)
var cyclesPerNS = sync.OnceValue(func() float64 {
	sample := sampleMHz()
	proc := 0.0
	if cyclesAreTSC {
		proc = procMHz()
	}
	switch {
	case proc == 0:
		return sample / 1e3
	case sample == 0 || max(proc-sample, sample-proc)/proc <= 0.02:
		return proc / 1e3
	default:
		return sample / 1e3
	}
})

// sampleMHz measures the cycles per microsecond as perftest does: 200
// spins on the wall clock (gettimeofday's microseconds) of 100 µs, 110 µs
// … 2.09 ms, a line fitted through (microseconds, cycles); 0 when its r²
// is under 0.9. It yields between spins (verbs.Yield): its 220 ms would
// otherwise be preempted by the runtime every 10 ms, just before a side's
// measured loop.
func sampleMHz() float64 {
	const n, start, step = 200, 100, 10
	var sx, sy, sxx, syy, sxy float64
	for i := range n {
		c0 := cycles()
		t1 := time.Now()
		var us int64
		for us < start+int64(i)*step {
			us = time.Since(t1).Microseconds()
		}
		x, y := float64(us), float64(cycles()-c0)
		sx, sy, sxx, syy, sxy = sx+x, sy+y, sxx+x*x, syy+y*y, sxy+x*y
		verbs.Yield()
	}
	cov := n*sxy - sx*sy
	b := cov / (n*sxx - sx*sx)
	if r2 := cov * cov / (n*sxx - sx*sx) / (n*syy - sy*sy); r2 < 0.9 {
		return 0
	}
	return b
}

// procMHz is the first "cpu MHz" of /proc/cpuinfo, 0 if there is none.
func procMHz() float64 {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(name) != "cpu MHz" {
			continue
		}
		var mhz float64
		if _, err := fmt.Sscan(value, &mhz); err == nil {
			return mhz
		}
	}
	return 0
}

// yielder hands the processor back to Go's scheduler (verbs.Yield) every so
// often from a busy loop, or from a loop of calls into C such as cmtime's
// create qp step. A goroutine that runs for 10 ms without passing through
// the scheduler is preempted by the runtime's monitor thread (sysmon); when
// it is found inside a cgo call, as a poller of the binding nearly always
// is, its processor is taken from it and sysmon goes back to waking up every
// 20 µs: threads that take CPU time from the pollers, and, while they run on
// another CPU, make every munmap of the process interrupt that CPU to flush
// its TLB. Yielding sooner keeps sysmon asleep (BENCHMARKS.md, "Where the
// time goes").
type yielder struct{ every, next int64 }

// newYielder yields every d of busy loop; never when d is 0.
func newYielder(d time.Duration) *yielder {
	if d <= 0 {
		return &yielder{}
	}
	every := int64(float64(d) * cyclesPerNS())
	return &yielder{every: every, next: cycles() + every}
}

// at yields if the time has come at now (cycles).
func (y *yielder) at(now int64) {
	if y.every > 0 && now >= y.next {
		y.next = now + y.every
		verbs.Yield()
	}
}

// settle spins for d without blocking or calling into C, yielding through y.
// The first call into C after the process has had nothing to run (a wait for
// the connection) wakes sysmon, which then polls every 20 µs and backs off
// to every 10 ms over a few tens of milliseconds (BENCHMARKS.md, "Tails:
// after a wait"); a measured loop that starts after settle does not share
// its CPU with that.
func settle(d time.Duration, y *yielder) {
	end := cycles() + int64(float64(d)*cyclesPerNS())
	for now := cycles(); now < end; now = cycles() {
		y.at(now)
	}
}
