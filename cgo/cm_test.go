package cgo

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/go-rdma/rdma/internal/testbed"
	"golang.org/x/sys/unix"
)

// TestReadyBadInput checks that Ready refuses, before any call into C, what
// would make C dereference nothing or walk states it does not handle.
func TestReadyBadInput(t *testing.T) {
	cases := map[string]struct{ first, last, then int }{
		"zero identifier and QP": {1, 3, ReadyOnly},
		"from RESET":             {0, 3, ReadyOnly},
		"past RTS":               {1, 4, ReadyOnly},
		"backwards":              {3, 2, ReadyOnly},
		"unknown final step":     {1, 3, 7},
	}
	for name, c := range cases {
		if _, err := (ID{}).Ready(QP{}, c.first, c.last, -1, -1, c.then, nil); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("%s: %v, want EINVAL", name, err)
		}
	}
}

// TestGetEventsBatches checks GetEvents on real address resolutions: a full
// slice comes back with no error (more may be pending), the rest with
// EAGAIN, every event once and for the identifier it is about.
func TestGetEventsBatches(t *testing.T) {
	dst := netip.AddrPortFrom(netip.MustParseAddr(testbed.Addr(t)), 7471)
	ch, err := CreateEventChannel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Destroy()
	if err := unix.SetNonblock(ch.FD(), true); err != nil {
		t.Fatal(err)
	}
	if n, err := ch.GetEvents(nil); n != 0 || err != nil {
		t.Fatalf("GetEvents(nil) = %d, %v; want 0, nil", n, err)
	}
	if n, err := ch.GetEvents(make([]CMEvent, 4)); n != 0 || !errors.Is(err, syscall.EAGAIN) {
		t.Fatalf("GetEvents on an empty channel = %d, %v; want 0, EAGAIN", n, err)
	}
	const ids = 6
	want := map[ID]bool{}
	for range ids {
		id, err := ch.CreateID()
		if err != nil {
			t.Fatal(err)
		}
		defer id.Destroy()
		if err := id.ResolveAddr(netip.AddrPort{}, dst, 2000); err != nil {
			t.Fatal(err)
		}
		want[id] = true
	}
	// Let every resolution finish, so that the reads below find all six.
	fds := []unix.PollFd{{Fd: int32(ch.FD()), Events: unix.POLLIN}}
	if n, err := unix.Poll(fds, 5000); n != 1 || err != nil {
		t.Fatalf("no event within 5 s: poll = %d, %v", n, err)
	}
	time.Sleep(500 * time.Millisecond)

	evs := make([]CMEvent, 4)
	for i, w := range []struct {
		n   int
		err error
	}{{4, nil}, {2, syscall.EAGAIN}} {
		n, err := ch.GetEvents(evs)
		if n != w.n || !errors.Is(err, w.err) {
			t.Fatalf("read %d: %d events, %v; want %d, %v", i, n, err, w.n, w.err)
		}
		for _, ev := range evs[:n] {
			if ev.Event != CMEventAddrResolved || ev.Status != 0 || !want[ev.ID] {
				t.Errorf("event %s status %d for %v; want ADDR_RESOLVED, 0, for one of the new identifiers once",
					CMEventString(ev.Event), ev.Status, ev.ID)
			}
			delete(want, ev.ID)
		}
	}
	if len(want) != 0 {
		t.Errorf("%d identifiers got no event", len(want))
	}
}
