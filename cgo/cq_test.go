package cgo

import (
	"errors"
	"syscall"
	"testing"
)

// TestGetEventsZeroChannel checks that GetEvents refuses the zero
// CompChannel before any call into C, which would dereference nothing.
func TestGetEventsZeroChannel(t *testing.T) {
	for _, ids := range [][]uintptr{nil, make([]uintptr, 4)} {
		if n, err := (CompChannel{}).GetEvents(ids); n != 0 || !errors.Is(err, syscall.EINVAL) {
			t.Errorf("GetEvents of the zero channel into %d IDs = %d, %v; want 0, EINVAL", len(ids), n, err)
		}
	}
}
