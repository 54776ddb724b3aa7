package verbs

import (
	"testing"
	"time"
)

// A busy wait is due to yield once yieldEvery has passed since its first
// burst, then yieldEvery after each yield: never sooner, and never later
// than the first burst that ends after that. (That Yield lets another
// goroutine run is TestYield's.) The times the test reads bound the wait's
// own from both sides, so the check holds however the thread is scheduled.
func TestBusyWaitDue(t *testing.T) {
	var w busyWait
	if w.due() {
		t.Fatal("due at the first burst")
	}
	// Each due time is bounded by the test's readings around the call that
	// returned it: earliest below, latest above.
	var dues int
	var earliest, latest time.Duration
	for dues < 3 {
		before := time.Since(w.start)
		due := w.due()
		after := time.Since(w.start)
		switch {
		case due && after < earliest+yieldEvery && dues > 0:
			t.Fatalf("due %v into the wait, less than %v after the last", after, yieldEvery)
		case due && dues == 0 && after < yieldEvery:
			t.Fatalf("first due %v into the wait, before %v", after, yieldEvery)
		case !due && dues == 0 && before >= yieldEvery:
			t.Fatalf("not due %v into the wait", before)
		case !due && dues > 0 && before >= latest+yieldEvery:
			t.Fatalf("not due %v into the wait, %v after the last", before, before-latest)
		}
		if due {
			dues++
			earliest, latest = before, after
		}
	}
}
