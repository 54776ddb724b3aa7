package main

import (
	"sync"
	"time"

	"github.com/go-rdma/rdma/verbs"
)

// cyclesPerNS is the rate of cycles, measured once against the monotonic
// clock.
var cyclesPerNS = sync.OnceValue(func() float64 {
	t0, c0 := time.Now(), cycles()
	time.Sleep(20 * time.Millisecond)
	c1, t1 := cycles(), time.Now()
	return float64(c1-c0) / float64(t1.Sub(t0))
})

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
