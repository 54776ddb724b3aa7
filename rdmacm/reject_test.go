package rdmacm_test

import (
	"bytes"
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/go-rdma/rdma/cgo"
	"github.com/go-rdma/rdma/rdmacm"
	"github.com/go-rdma/rdma/verbs"
)

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(0xA0 + i%61)
	}
	return b
}

// refused checks that err is a refusal carrying exactly data.
func refused(t *testing.T, err error, data []byte) {
	t.Helper()
	if !errors.Is(err, rdmacm.ErrConnectionRefused) {
		t.Fatalf("Connect: %v, want ErrConnectionRefused", err)
	}
	var rej *rdmacm.RejectError
	if !errors.As(err, &rej) {
		t.Fatalf("Connect: %v carries no *RejectError", err)
	}
	if !rej.ConsumerReject() {
		t.Errorf("reject status %d is not a consumer reject", rej.Status)
	}
	if rej.Status < 0 && !errors.Is(err, syscall.Errno(-rej.Status)) {
		t.Errorf("Connect: %v does not match the refusal's errno %d", err, -rej.Status)
	}
	if !bytes.Equal(rej.PrivateData, data) {
		t.Errorf("reject private data %d bytes %x, want %d bytes %x", len(rej.PrivateData), rej.PrivateData, len(data), data)
	}
}

func TestPassiveReject(t *testing.T) {
	l := listen(t, 8)
	probe, _, probeReq, probeDone := request(t, l, nil)
	max := probeReq.MaxPrivateData(rdmacm.MsgReject, false)
	if err := probeReq.Reject(nil); err != nil {
		t.Fatal(err)
	}
	refused(t, <-probeDone, []byte{})
	probe.Close()

	for _, n := range []int{0, 1, max} {
		_, _, passive, done := request(t, l, nil)
		if err := passive.Reject(pattern(n)); err != nil {
			t.Fatalf("Reject(%d bytes): %v", n, err)
		}
		refused(t, <-done, pattern(n))
	}

	// max+1 never leaves: the request stays pending, and the refusal that
	// follows carries the valid data only.
	active, _, passive, done := request(t, l, nil)
	if err := passive.Reject(pattern(max + 1)); !errors.Is(err, rdmacm.ErrPrivateDataTooLong) {
		t.Fatalf("Reject(%d bytes): %v, want ErrPrivateDataTooLong", max+1, err)
	}
	select {
	case err := <-done:
		t.Fatalf("the peer heard of the oversize reject: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := passive.Reject([]byte("second try")); err != nil {
		t.Fatal(err)
	}
	err := <-done
	refused(t, err, []byte("second try"))
	// The error's private data is the caller's to change.
	var rej *rdmacm.RejectError
	errors.As(err, &rej)
	copy(rej.PrivateData, "XXXXXX")
	if d, err := active.ConnectionData(); err != nil || string(d.PrivateData) != "second try" {
		t.Errorf("ConnectionData after the refusal's data was changed: %q, %v; want %q", d.PrivateData, err, "second try")
	}

	// Raw private data arrives as sent on iWARP, zero-padded on IB.
	_, _, passive, done = request(t, l, nil)
	raw := pattern(passive.MaxPrivateData(rdmacm.MsgReject, true))
	if err := passive.RejectRaw(raw); err != nil {
		t.Fatal(err)
	}
	refused(t, <-done, raw)
}

func TestConnectPrivateDataLimit(t *testing.T) {
	ctx := testContext(t)
	l := listen(t, 4)
	c := newConnector(t)
	if err := c.Resolve(ctx, l.Addr().String()); err != nil {
		t.Fatal(err)
	}
	max := c.MaxPrivateData(rdmacm.MsgConnect, false)
	ep := newEndpoint(t, c.DeviceName())
	if err := c.Connect(ctx, "", ep.qp, &rdmacm.ConnParams{PrivateData: pattern(max + 1)}); !errors.Is(err, rdmacm.ErrPrivateDataTooLong) {
		t.Fatalf("Connect with %d bytes: %v, want ErrPrivateDataTooLong", max+1, err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if req, err := l.GetConnectionRequest(short); err == nil {
		t.Fatalf("an oversize request reached the listener: %v", req.RawPrivateData())
	}
	// The same connector can still connect with the maximum.
	done := make(chan error, 1)
	go func() { done <- c.Connect(ctx, "", ep.qp, &rdmacm.ConnParams{PrivateData: pattern(max)}) }()
	passive, err := l.GetConnectionRequest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer passive.Close()
	data, err := passive.ConnectionData()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data.PrivateData, pattern(max)) {
		t.Errorf("request private data %d bytes, want the %d sent", len(data.PrivateData), max)
	}
	passive.Reject(nil)
	refused(t, <-done, []byte{})
}

func TestActiveReject(t *testing.T) {
	ctx := testContext(t)
	l := listen(t, 4)
	active, _, passive, done := request(t, l, nil)
	_, accepted := accept(t, passive, &rdmacm.ConnParams{PrivateData: []byte("terms")})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	data, err := active.ConnectionData()
	if err != nil {
		t.Fatal(err)
	}
	if string(data.PrivateData) != "terms" {
		t.Errorf("accept private data %q", data.PrivateData)
	}
	if active.Transport() == verbs.TransportIWARP {
		// iWARP's Connect completed the connection: there is nothing
		// left to reject (documented); Accept succeeded.
		if err := active.Reject([]byte("no")); !errors.Is(err, rdmacm.ErrUnsupported) {
			t.Fatalf("active Reject on iWARP: %v, want ErrUnsupported", err)
		}
		if err := <-accepted; err != nil {
			t.Fatal(err)
		}
		return
	}
	max := active.MaxPrivateData(rdmacm.MsgReject, false)
	if err := active.Reject(pattern(max + 1)); !errors.Is(err, rdmacm.ErrPrivateDataTooLong) {
		t.Fatalf("active Reject with %d bytes: %v", max+1, err)
	}
	if err := active.Reject(pattern(max)); err != nil {
		t.Fatal(err)
	}
	refused(t, <-accepted, pattern(max))
	if err := active.CompleteConnect(ctx); !errors.Is(err, rdmacm.ErrInvalidState) {
		t.Errorf("CompleteConnect after Reject: %v, want ErrInvalidState", err)
	}
}

// TestRejectErrorIs: a refusal matches ErrConnectionRefused and
// ECONNREFUSED whatever its transport, and an iWARP refusal the errno it
// came with.
func TestRejectErrorIs(t *testing.T) {
	for _, tc := range []struct {
		status int
		reset  bool
	}{{28, false}, {8, false}, {-int(syscall.ECONNREFUSED), false}, {-int(syscall.ECONNRESET), true}} {
		err := error(&rdmacm.OpError{Op: "connect", Err: &rdmacm.RejectError{Status: tc.status}})
		if !errors.Is(err, rdmacm.ErrConnectionRefused) || !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("status %d: %v matches neither ErrConnectionRefused nor ECONNREFUSED", tc.status, err)
		}
		if errors.Is(err, syscall.ECONNRESET) != tc.reset {
			t.Errorf("status %d: errors.Is(ECONNRESET) = %v, want %v", tc.status, !tc.reset, tc.reset)
		}
	}
}

// abandoned returns a request whose requester closed its connector a
// second ago.
func abandoned(t *testing.T) *rdmacm.Connector {
	t.Helper()
	active, _, passive, done := request(t, listen(t, 4), nil)
	if err := active.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, rdmacm.ErrClosed) {
		t.Errorf("Connect interrupted by Close: %v, want ErrClosed", err)
	}
	time.Sleep(time.Second)
	return passive
}

func TestRejectAbandoned(t *testing.T) {
	passive := abandoned(t)
	if err := passive.Reject([]byte("too late")); !errors.Is(err, rdmacm.ErrConnectionAborted) {
		t.Errorf("Reject after the peer left: %v, want ErrConnectionAborted", err)
	}
}

// Accept of a request whose peer closed its connector gives
// ErrConnectionAborted, as Reject does.
func TestAcceptAbandoned(t *testing.T) {
	passive := abandoned(t)
	ep := newEndpoint(t, passive.DeviceName())
	if err := passive.Accept(testContext(t), ep.qp, nil); !errors.Is(err, rdmacm.ErrConnectionAborted) {
		t.Errorf("Accept after the peer left: %v, want ErrConnectionAborted", err)
	}
}

// TestAcceptQPNotReady accepts with a QP in the error state, which cannot
// move to RTR: Accept fails with the errno of the call that refused, and a
// request whose QP did not get ready is still there to reject.
func TestAcceptQPNotReady(t *testing.T) {
	ctx := testContext(t)
	l := listen(t, 4)
	_, _, passive, done := request(t, l, nil)
	pep := newEndpoint(t, passive.DeviceName())
	// rxe moves a QP to ERR from INIT, not from RESET.
	if err := passive.InitQP(pep.qp); err != nil {
		t.Fatal(err)
	}
	if err := pep.qp.Modify(&verbs.QPAttr{State: int(verbs.QPStateErr)}, verbs.QPAttrState); err != nil {
		t.Fatal(err)
	}
	err := passive.Accept(ctx, pep.qp, nil)
	if !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("Accept with a QP in ERR: %v, want EINVAL", err)
	}
	var re *cgo.ReadyError
	if !errors.As(err, &re) {
		t.Fatalf("Accept with a QP in ERR: %v carries no *cgo.ReadyError", err)
	}
	if passive.Transport() == verbs.TransportIWARP {
		// siw's modify_qp leaves a QP in ERR there without an error;
		// siw_accept refuses it.
		if re.Call != "rdma_accept" {
			t.Fatalf("failed call %s(%d), want rdma_accept", re.Call, re.State)
		}
		if err := passive.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err == nil {
			t.Fatal("Connect succeeded against a failed accept")
		}
		return
	}
	if re.Call != "ibv_modify_qp" || verbs.QPState(re.State) != verbs.QPStateRTR {
		t.Fatalf("failed call %s(%v), want ibv_modify_qp(RTR)", re.Call, verbs.QPState(re.State))
	}
	if err := passive.Reject([]byte("not ready")); err != nil {
		t.Fatal(err)
	}
	refused(t, <-done, []byte("not ready"))
}
