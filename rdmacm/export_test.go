package rdmacm

import (
	"testing"

	"github.com/go-rdma/rdma/cgo"
)

// Rejected reports whether a REJECTED event waits in c's queue, for tests
// that must know the peer's refusal has arrived before they go on.
func Rejected(c *Connector) bool {
	c.evMu.Lock()
	defer c.evMu.Unlock()
	for _, ev := range c.events {
		if ev.Event == cgo.CMEventRejected {
			return true
		}
	}
	return false
}

// SetAnsweredHook makes Connect and Accept call f between taking the
// peer's answer and recording it, until t ends.
func SetAnsweredHook(t testing.TB, f func(*Connector)) {
	testHookAnswered.Store(&f)
	t.Cleanup(func() { testHookAnswered.Store(nil) })
}
