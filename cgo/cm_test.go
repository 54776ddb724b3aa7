package cgo

import (
	"errors"
	"syscall"
	"testing"
)

// TestReadyBadInput checks that Ready refuses, before any call into C, what
// would make C dereference nothing or walk states it does not handle.
func TestReadyBadInput(t *testing.T) {
	cases := map[string]struct{ first, last, then int }{
		"zero identifier and QP":    {1, 3, ReadyOnly},
		"from RESET":                {0, 3, ReadyOnly},
		"past RTS":                  {1, 4, ReadyOnly},
		"backwards":                 {3, 2, ReadyOnly},
		"unknown final step":        {1, 3, 7},
		"accept without parameters": {1, 3, ReadyAccept},
	}
	for name, c := range cases {
		if _, err := (ID{}).Ready(QP{}, c.first, c.last, -1, -1, c.then, nil); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("%s: %v, want EINVAL", name, err)
		}
	}
}
