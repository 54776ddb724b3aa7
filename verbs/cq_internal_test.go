package verbs

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// A busy wait yields once yieldEvery has passed, before the runtime's
// preemption (10 ms) would let another goroutine on the processor run.
func TestBusyWaitYields(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	// A time slice of its own: the test's goroutine may have inherited
	// one that is nearly over.
	Yield()
	var ran atomic.Bool
	go ran.Store(true)
	var w busyWait
	start := time.Now()
	for {
		w.empty()
		if ran.Load() {
			break
		}
		if time.Since(start) > yieldEvery+4*time.Millisecond {
			t.Fatalf("no yield %v into the busy wait", time.Since(start))
		}
	}
	if d := time.Since(start); d < yieldEvery {
		t.Errorf("yielded after %v, before yieldEvery (%v)", d, yieldEvery)
	}
}
