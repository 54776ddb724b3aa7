package cgo

import _ "unsafe" // go:linkname

// Yield is the runtime's goyield: the calling goroutine goes to the back of
// its own processor's run queue and the scheduler runs, so that the goroutine
// counts as rescheduled, and no idle thread is woken. runtime.Gosched puts
// the goroutine on the global queue and wakes an idle thread whenever a
// processor is idle, which beside one busy goroutine one always is; that
// thread finds nothing to do and sleeps again, on a CPU a busy poller may
// need. goyield is one of the runtime's functions kept for go:linkname
// (go.dev/issue/67401).
//
//go:linkname Yield runtime.goyield
func Yield()
