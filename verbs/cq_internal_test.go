package verbs

import (
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"testing"
	"time"
)

// A busy wait yields once yieldEvery has passed, before the runtime's
// preemption (10 ms) would let another goroutine on the processor run.
// (Whether it runs sooner is not checked: in the guest it once ran 0.24 ms
// into the wait, before any yield, at the start of the test binary.)
func TestBusyWaitYields(t *testing.T) {
	// No collection (whose stop of the world could run the other goroutine
	// first) and one processor.
	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	// A time slice of its own: the test's goroutine may have inherited
	// one that is nearly over.
	Yield()
	var ran atomic.Bool
	go ran.Store(true)
	var w busyWait
	w.empty() // starts the wait's clock
	for {
		before := time.Since(w.start)
		w.empty()
		if ran.Load() {
			break
		}
		if before > yieldEvery+4*time.Millisecond {
			t.Fatalf("no yield %v into the busy wait", before)
		}
	}
}
