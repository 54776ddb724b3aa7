package rdmacm_test

import (
	"context"
	"errors"
	"math"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/go-rdma/rdma/internal/testbed"
	"github.com/go-rdma/rdma/rdmacm"
)

// dial connects a fresh connector to address and returns Connect's error.
func dial(t *testing.T, ctx context.Context, address string) error {
	t.Helper()
	c := newConnector(t)
	if err := c.Resolve(ctx, address); err != nil {
		return err
	}
	ep := newEndpoint(t, c.DeviceName())
	return c.Connect(ctx, "", ep.qp, nil)
}

// nobodyListens checks err is what a connection to a port without a
// listener gives: refused by the stack, not by a consumer.
func nobodyListens(t *testing.T, err error) {
	t.Helper()
	var rej *rdmacm.RejectError
	if !errors.As(err, &rej) || !errors.Is(err, rdmacm.ErrConnectionRefused) {
		t.Fatalf("connect to a port nobody listens on: %v, want a refusal", err)
	}
	if rej.Status == 28 {
		t.Errorf("refused as a consumer reject (28), want the stack's no-listener answer")
	}
}

func TestConnectNobodyListening(t *testing.T) {
	ctx := testContext(t)
	l := listen(t, 1)
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	nobodyListens(t, dial(t, ctx, addr))
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("refusal took %v", d)
	}
	if _, err := l.GetConnectionRequest(ctx); !errors.Is(err, rdmacm.ErrClosed) {
		t.Errorf("GetConnectionRequest after Close: %v, want ErrClosed", err)
	}
	if err := l.Close(); !errors.Is(err, rdmacm.ErrClosed) {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
}

func TestListenerPauseResume(t *testing.T) {
	ctx := testContext(t)
	l := listen(t, 4)
	addr := l.Addr().String()
	if got, want := l.DeviceName(), testbed.Device(t); got != want {
		t.Errorf("DeviceName of a listener on %s = %q, want %q", addr, got, want)
	}
	if err := l.Pause(); err != nil {
		t.Fatal(err)
	}
	if got := l.DeviceName(); got != "" {
		t.Errorf("DeviceName of a paused listener = %q, want none", got)
	}
	nobodyListens(t, dial(t, ctx, addr))
	if err := l.Resume(); err != nil {
		t.Fatal(err)
	}
	if l.Addr().String() != addr {
		t.Errorf("address after Resume %s, was %s", l.Addr(), addr)
	}
	if got, want := l.DeviceName(), testbed.Device(t); got != want {
		t.Errorf("DeviceName after Resume = %q, want %q", got, want)
	}
	_, _, passive, done := request(t, l, nil)
	if err := passive.Reject([]byte("resumed")); err != nil {
		t.Fatal(err)
	}
	refused(t, <-done, []byte("resumed"))
}

func TestBacklogOverflow(t *testing.T) {
	ctx := testContext(t)
	const backlog = 2
	l := listen(t, backlog)
	results := make(chan error, backlog+1)
	for i := 0; i < backlog+1; i++ {
		c := newConnector(t)
		if err := c.Resolve(ctx, l.Addr().String()); err != nil {
			t.Fatal(err)
		}
		ep := newEndpoint(t, c.DeviceName())
		go func() { results <- c.Connect(ctx, "", ep.qp, nil) }()
		// Let each request reach the queue before the next.
		time.Sleep(200 * time.Millisecond)
	}
	// The one over the backlog is refused while the others wait.
	refused(t, <-results, []byte{})
	select {
	case err := <-results:
		t.Fatalf("a queued request ended early: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	for i := 0; i < backlog; i++ {
		p, err := l.GetConnectionRequest(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if err := p.Reject([]byte("taken")); err != nil {
			t.Fatal(err)
		}
		refused(t, <-results, []byte("taken"))
	}
}

func TestListenerClosePending(t *testing.T) {
	ctx := testContext(t)
	l, err := rdmacm.Listen(net.JoinHostPort(testbed.Addr(t), "0"), 4)
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan error, 2)
	for i := 0; i < 2; i++ {
		c := newConnector(t)
		if err := c.Resolve(ctx, l.Addr().String()); err != nil {
			t.Fatal(err)
		}
		ep := newEndpoint(t, c.DeviceName())
		go func() { results <- c.Connect(ctx, "", ep.qp, nil) }()
	}
	time.Sleep(500 * time.Millisecond)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		refused(t, <-results, []byte{})
	}
}

func TestBadInput(t *testing.T) {
	ctx := testContext(t)
	var nilCtx context.Context
	var nilConn *rdmacm.Connector
	var nilListener *rdmacm.Listener
	checks := map[string]error{
		"nil Connect":         nilConn.Connect(ctx, "192.0.2.1:1", nil, nil),
		"nil Accept":          nilConn.Accept(ctx, nil, nil),
		"nil Reject":          nilConn.Reject(nil),
		"nil CompleteConnect": nilConn.CompleteConnect(ctx),
		"nil Disconnect":      nilConn.Disconnect(ctx),
		"nil Close":           nilConn.Close(),
		"nil Listener Close":  nilListener.Close(),
		"nil Pause":           nilListener.Pause(),
	}
	_, checks["nil ConnectionData"] = nilConn.ConnectionData()
	_, checks["nil GetConnectionRequest"] = nilListener.GetConnectionRequest(ctx)
	_, checks["nil GetConnectionRequest, nil context"] = nilListener.GetConnectionRequest(nilCtx)
	_, checks["nil Listener Accept, nil context"] = nilListener.Accept(nilCtx, nil)
	checks["nil Resolve, nil context"] = nilConn.Resolve(nilCtx, "192.0.2.1:1")
	if dev := nilListener.DeviceName(); dev != "" {
		t.Errorf("DeviceName of a nil listener = %q", dev)
	}
	for name, err := range checks {
		if !errors.Is(err, rdmacm.ErrClosed) {
			t.Errorf("%s: %v, want ErrClosed", name, err)
		}
	}

	for _, addr := range []string{"", "192.0.2.1", "192.0.2.1:99999", "no such host:1", "[::1:1"} {
		if _, err := rdmacm.Listen(addr, 1); err == nil {
			t.Errorf("Listen(%q) succeeded", addr)
		}
	}
	if _, err := rdmacm.Listen(net.JoinHostPort(testbed.Addr(t), "0"), 0); err == nil {
		t.Error("Listen with backlog 0 succeeded")
	}
	l := listen(t, 1)
	if _, err := rdmacm.Listen(l.Addr().String(), 1); err == nil {
		t.Errorf("a second Listen on %s succeeded", l.Addr())
	}

	c := newConnector(t)
	if err := c.Connect(ctx, l.Addr().String(), nil, nil); err == nil {
		t.Error("Connect with a nil QP succeeded")
	}
	if err := c.Accept(ctx, nil, nil); !errors.Is(err, rdmacm.ErrInvalidState) {
		t.Errorf("Accept on an active connector: %v, want ErrInvalidState", err)
	}
	if err := c.CompleteConnect(ctx); !errors.Is(err, rdmacm.ErrInvalidState) {
		t.Errorf("CompleteConnect before Connect: %v, want ErrInvalidState", err)
	}
	for _, addr := range []string{"", "192.0.2.1", ":0", "0.0.0.0:7", "192.0.2.1:0", "[::ffff:0.0.0.0]:7"} {
		fresh := newConnector(t)
		if err := fresh.Resolve(ctx, addr); err == nil {
			t.Errorf("Resolve(%q) succeeded", addr)
		}
	}
	// The kernel takes the IPv4-mapped unspecified address for 0.0.0.0,
	// which would resolve to this host.
	var ae *net.AddrError
	if err := newConnector(t).Resolve(ctx, "[::ffff:0.0.0.0]:7"); !errors.As(err, &ae) {
		t.Errorf("Resolve of the IPv4-mapped unspecified address: %v, want a *net.AddrError", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	closedL, err := rdmacm.Listen(net.JoinHostPort(testbed.Addr(t), "0"), 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := closedL.Close(); err != nil {
		t.Fatal(err)
	}
	// A closed object's ErrClosed comes first, also with a nil context.
	closed := map[string]error{
		"Connect":                    c.Connect(ctx, l.Addr().String(), nil, nil),
		"Reject":                     c.Reject(nil),
		"Disconnect":                 c.Disconnect(ctx),
		"CompleteConnect":            c.CompleteConnect(ctx),
		"Close":                      c.Close(),
		"Bind":                       c.Bind("192.0.2.1:0"),
		"Resolve, nil context":       c.Resolve(nilCtx, l.Addr().String()),
		"Connect, nil context":       c.Connect(nilCtx, l.Addr().String(), nil, nil),
		"CompleteConnect, nil ctx":   c.CompleteConnect(nilCtx),
		"Accept, nil context":        c.Accept(nilCtx, nil, nil),
		"Disconnect, nil context":    c.Disconnect(nilCtx),
		"Listener.Accept, nil ctx":   func() error { _, err := closedL.Accept(nilCtx, nil); return err }(),
		"GetConnectionRequest, nil ": func() error { _, err := closedL.GetConnectionRequest(nilCtx); return err }(),
	}
	_, closed["JoinMulticast, nil context"] = c.JoinMulticast(nilCtx, "239.1.2.5", nil)
	for name, err := range closed {
		if !errors.Is(err, rdmacm.ErrClosed) {
			t.Errorf("%s on a closed connector: %v, want ErrClosed", name, err)
		}
	}
}

func TestUnreachable(t *testing.T) {
	testbed.Device(t)
	ctx := testContext(t)
	// No host answers ARP for the first; no route leads to the second.
	for addr, want := range map[string]error{"192.0.2.99:7471": syscall.ETIMEDOUT, "198.51.100.1:7471": syscall.ENETUNREACH} {
		c := newConnector(t)
		short, cancel := context.WithTimeout(ctx, 8*time.Second)
		start := time.Now()
		err := c.Resolve(short, addr)
		cancel()
		var op *rdmacm.OpError
		if !errors.Is(err, want) || !errors.As(err, &op) || op.Addr != addr {
			t.Errorf("Resolve(%s): %v, want an *OpError naming it and wrapping %v", addr, err, want)
		}
		if d := time.Since(start); d > 6*time.Second {
			t.Errorf("Resolve(%s) took %v", addr, d)
		}
	}
}

// TestListenerClosedWins: on a closed listener GetConnectionRequest gives
// ErrClosed, also when its context has ended too. A backlog over
// MaxBacklog is taken as MaxBacklog instead of allocated.
func TestListenerClosedWins(t *testing.T) {
	l, err := rdmacm.Listen(l0(t), math.MaxInt)
	if err != nil {
		t.Fatalf("Listen with backlog MaxInt: %v", err)
	}
	l.Close()
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	for range 50 {
		if _, err := l.GetConnectionRequest(ended); !errors.Is(err, rdmacm.ErrClosed) {
			t.Fatalf("GetConnectionRequest of a closed listener, its context ended: %v, want ErrClosed", err)
		}
	}
}
