package rdmacm_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/go-rdma/rdma/internal/testbed"
	"github.com/go-rdma/rdma/rdmacm"
	"github.com/go-rdma/rdma/verbs"
)

func TestTwoPhaseConnect(t *testing.T) {
	ctx := testContext(t)
	l := listen(t, 4)
	active, aep, passive, done := request(t, l, &rdmacm.ConnParams{InboundReadLimit: 3, OutboundReadLimit: 6, PrivateData: []byte("hello")})

	req, err := passive.ConnectionData()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(req.PrivateData, []byte("hello")) {
		t.Errorf("request private data %q, want %q", req.PrivateData, "hello")
	}
	// The requester's outbound limit is our inbound one and vice versa.
	if req.InboundReadLimit != 6 || req.OutboundReadLimit != 3 {
		t.Errorf("request read limits in %d out %d, want 6 and 3", req.InboundReadLimit, req.OutboundReadLimit)
	}
	pep, accepted := accept(t, passive, &rdmacm.ConnParams{InboundReadLimit: 4, OutboundReadLimit: 2, PrivateData: []byte("world!")})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	resp, err := active.ConnectionData()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(resp.PrivateData, []byte("world!")) {
		t.Errorf("accept private data %q, want %q", resp.PrivateData, "world!")
	}
	// What the passive side granted, seen from here; on iWARP the peer's
	// inbound limit is not reported and the offered outbound one stays.
	wantOut := 4
	if active.Transport() == verbs.TransportIWARP {
		wantOut = 6
	}
	if resp.InboundReadLimit != 2 || resp.OutboundReadLimit != wantOut {
		t.Errorf("response read limits in %d out %d, want 2 and %d", resp.InboundReadLimit, resp.OutboundReadLimit, wantOut)
	}
	if err := active.CompleteConnect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-accepted; err != nil {
		t.Fatal(err)
	}

	// Data flows: a send from the active side lands in the passive buffer.
	if err := pep.qp.PostRecv([]verbs.RecvWR{{ID: 1, SGL: []verbs.SGE{pep.mr.SGE(0, 64)}}}); err != nil {
		t.Fatal(err)
	}
	copy(aep.buf.Bytes(), "ping over rdma_cm")
	if err := aep.qp.PostSend([]verbs.SendWR{{ID: 2, Opcode: verbs.WRSend, Flags: verbs.SendSignaled,
		SGL: []verbs.SGE{aep.mr.SGE(0, 17)}}}); err != nil {
		t.Fatal(err)
	}
	wcs := make([]verbs.WorkCompletion, 1)
	for _, cq := range []*verbs.CQ{aep.cq, pep.cq} {
		if _, err := cq.PollWait(ctx, wcs); err != nil || wcs[0].Err() != nil {
			t.Fatalf("completion: %v %v", err, wcs[0].Err())
		}
	}
	if got := string(pep.buf.Bytes()[:17]); got != "ping over rdma_cm" {
		t.Errorf("received %q", got)
	}

	// The passive side disconnects; the active side is told.
	if err := passive.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-active.Disconnected():
	case <-ctx.Done():
		t.Fatal("active side never saw the disconnect")
	}
	if err := active.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
}

// Two Disconnect calls on one side both return once the connection is
// down, and Disconnected is closed whether it was asked for before the
// disconnection (the passive side) or only after it (the active side).
func TestDisconnectWakesEveryWaiter(t *testing.T) {
	ctx := testContext(t)
	l := listen(t, 1)
	active, passive := establish(t, l)
	down := passive.Disconnected()
	select {
	case <-down:
		t.Fatal("Disconnected is closed while the connection is up")
	default:
	}
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- active.Disconnect(ctx) }()
	}
	for range 2 {
		if err := within(t, "Disconnect", 10*time.Second, func() error { return <-errs }); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-active.Disconnected():
	default:
		t.Error("the active side's Disconnected is open after its Disconnect returned")
	}
	within(t, "the passive side's Disconnected", 10*time.Second, func() error { <-down; return nil })
}

// rdmaCMFDs lists the process's descriptors open on the rdma_cm device: its
// event channels.
func rdmaCMFDs(t *testing.T) []string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, fd := range fds {
		if dst, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && dst == "/dev/infiniband/rdma_cm" {
			out = append(out, fd.Name())
		}
	}
	return out
}

// Active Connectors made one after the other share one event channel,
// which stays open for a moment after the last of them closes and then
// goes away.
func TestActiveChannelLingers(t *testing.T) {
	testbed.Device(t)
	// Earlier tests' channels, a lingering active one included, go first.
	waitRDMACMFDs(t, 0)
	first, err := rdmacm.NewConnector()
	if err != nil {
		t.Fatal(err)
	}
	open := rdmaCMFDs(t)
	if len(open) == 0 {
		t.Fatal("no descriptor on rdma_cm with a connector")
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if got := rdmaCMFDs(t); !slices.Equal(got, open) {
		t.Fatalf("descriptors on rdma_cm right after the last connector closed: %v, want %v still", got, open)
	}
	second, err := rdmacm.NewConnector()
	if err != nil {
		t.Fatal(err)
	}
	if got := rdmaCMFDs(t); !slices.Equal(got, open) {
		t.Fatalf("descriptors on rdma_cm with the next connector: %v, want the same channel %v", got, open)
	}
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	waitRDMACMFDs(t, 0)
}

// waitRDMACMFDs waits up to 10 s for at most n descriptors on rdma_cm.
func waitRDMACMFDs(t *testing.T, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); len(rdmaCMFDs(t)) > n; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("descriptors on rdma_cm after 10 s: %v, want at most %d", rdmaCMFDs(t), n)
		}
	}
}

// TestIPv6LinkLocal connects over the test netdev's IPv6 link-local
// address, zone and all: the listener binds it, the connector resolves it
// (the interface travels as the sockaddr_in6 scope), and both sides read
// back that address, zone included (on RoCE the passive side's come from
// the kernel without a scope), and the listener's port.
func TestIPv6LinkLocal(t *testing.T) {
	ctx := testContext(t)
	ll := linkLocal(t, testbed.Netdev(t))
	l, err := rdmacm.Listen(netip.AddrPortFrom(ll, 0).String(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*rdmacm.Addr).AddrPort.Port()
	active, passive := establish(t, l)
	for _, c := range []struct {
		name string
		got  net.Addr
		port uint16 // 0: any
	}{
		{"listener", l.Addr(), port},
		{"active peer", active.PeerAddr(), port},
		{"active local", active.LocalAddr(), 0},
		{"passive local", passive.LocalAddr(), port},
		{"passive peer", passive.PeerAddr(), 0},
	} {
		ap := c.got.(*rdmacm.Addr).AddrPort
		if ap.Addr() != ll || ap.Port() == 0 || (c.port != 0 && ap.Port() != c.port) {
			t.Errorf("%s address %v, want [%v]:%d", c.name, ap, ll, c.port)
		}
	}
	if err := active.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
}

// linkLocal waits for netdev's IPv6 link-local address to pass duplicate
// address detection (a tentative address takes no traffic: a device freshly
// up has one for a second or two) and returns it, netdev as its zone.
func linkLocal(t *testing.T, netdev string) netip.Addr {
	t.Helper()
	link, err := netlink.LinkByName(netdev)
	if err != nil {
		t.Fatal(err)
	}
	var seen []netlink.Addr
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if seen, err = netlink.AddrList(link, netlink.FAMILY_V6); err != nil {
			t.Fatal(err)
		}
		for _, a := range seen {
			ip, ok := netip.AddrFromSlice(a.IP)
			if ok && ip.IsLinkLocalUnicast() && a.Flags&unix.IFA_F_TENTATIVE == 0 {
				return ip.WithZone(netdev)
			}
		}
	}
	t.Fatalf("%s has no IPv6 link-local address out of duplicate address detection after 10 s: %v", netdev, seen)
	return netip.Addr{}
}

// TestCloseAfterAnswer: a Close that comes after the peer's answer reached
// Connect or Accept, before they record it, makes them fail with
// ErrClosed, as a Close at any other point while they run does: a closed
// connector is never reported connected.
func TestCloseAfterAnswer(t *testing.T) {
	ctx := testContext(t)
	l := listen(t, 4)
	var target atomic.Pointer[rdmacm.Connector]
	rdmacm.SetAnsweredHook(t, func(c *rdmacm.Connector) {
		if target.CompareAndSwap(c, nil) {
			if err := c.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
	})

	// The answer comes once the request is accepted: the target is set
	// before that.
	active, ep, passive, connected := request(t, l, nil)
	target.Store(active)
	_, accepted := accept(t, passive, nil)
	if err := <-connected; !errors.Is(err, rdmacm.ErrClosed) {
		t.Errorf("Connect closed after the answer: %v, want ErrClosed", err)
	}
	<-accepted

	active = newConnector(t)
	ep = newEndpoint(t, testbed.Device(t))
	go func() {
		err := active.Connect(ctx, l.Addr().String(), ep.qp, nil)
		if err == nil {
			err = active.CompleteConnect(ctx)
		}
		connected <- err
	}()
	passive, err := l.GetConnectionRequest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { passive.Close() })
	target.Store(passive)
	pep := newEndpoint(t, passive.DeviceName())
	if err := passive.Accept(ctx, pep.qp, nil); !errors.Is(err, rdmacm.ErrClosed) {
		t.Errorf("Accept closed after the answer: %v, want ErrClosed", err)
	}
	if target.Load() != nil {
		t.Error("Accept took no answer")
	}
	<-connected
}

// Close ends an established connection as Disconnect does: the closing
// side's Disconnected channel closes, its QP moves to the error state (a
// posted receive completes flushed), and the peer sees the disconnection.
func TestCloseEndsConnection(t *testing.T) {
	active, ep, passive := establishEP(t, listen(t, 1))
	if err := ep.qp.PostRecv([]verbs.RecvWR{{ID: 7, SGL: []verbs.SGE{ep.mr.SGE(0, 64)}}}); err != nil {
		t.Fatal(err)
	}
	down, peerDown := active.Disconnected(), passive.Disconnected()
	if err := active.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-down:
	default:
		t.Error("Disconnected is open after Close")
	}
	wcs := make([]verbs.WorkCompletion, 1)
	n, err := ep.cq.PollWait(testContext(t), wcs)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || wcs[0].WRID != 7 || wcs[0].Status != verbs.WCWRFlushErr {
		t.Errorf("after Close: %d completions %+v, want the receive flushed", n, wcs[:n])
	}
	within(t, "the peer's Disconnected", 10*time.Second, func() error { <-peerDown; return nil })
}

// Accept and Reject of one request called at once: one of them answers the
// request, the other fails with ErrInvalidState, and the requester sees the
// answer given.
func TestAcceptRejectAtOnce(t *testing.T) {
	l := listen(t, 4)
	for i := range 4 {
		active, _, passive, done := request(t, l, nil)
		ep := newEndpoint(t, passive.DeviceName())
		ctx := testContext(t)
		start := make(chan struct{})
		accepted, rejected := make(chan error, 1), make(chan error, 1)
		go func() { <-start; accepted <- passive.Accept(ctx, ep.qp, nil) }()
		go func() { <-start; rejected <- passive.Reject(nil) }()
		close(start)
		connectErr := <-done
		if connectErr == nil {
			if err := active.CompleteConnect(ctx); err != nil {
				t.Fatal(err)
			}
		}
		acceptErr, rejectErr := <-accepted, <-rejected
		t.Logf("round %d: Connect: %v; Accept: %v; Reject: %v", i, connectErr, acceptErr, rejectErr)
		switch {
		case acceptErr == nil && errors.Is(rejectErr, rdmacm.ErrInvalidState) && connectErr == nil:
		case rejectErr == nil && errors.Is(acceptErr, rdmacm.ErrInvalidState) && errors.Is(connectErr, rdmacm.ErrConnectionRefused):
		default:
			t.Errorf("round %d: want one answer and ErrInvalidState for the other", i)
		}
		active.Close()
		passive.Close()
	}
}

// TestResolveGivenUp: a Resolve given up while rdma_cm works on it leaves
// the connector failed: the next call is refused with ErrInvalidState
// instead of taking the given-up request's late event for its own answer,
// and Close works. A Resolve whose context ended before it began sends
// nothing and leaves the connector new.
func TestResolveGivenUp(t *testing.T) {
	l := listen(t, 1)
	c := newConnector(t)
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Resolve(ended, l.Addr().String()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Resolve with an ended context: %v, want context.Canceled", err)
	}
	if err := c.Resolve(testContext(t), l.Addr().String()); err != nil {
		t.Fatalf("Resolve after one whose context had ended before it began: %v", err)
	}

	// No host answers ARP for this address (TestUnreachable): rdma_cm
	// works on it for seconds.
	g := newConnector(t)
	ctx, cancel := context.WithCancel(context.Background())
	if err := g.Resolve(&cancelOnWait{Context: ctx, cancel: cancel, after: 50 * time.Millisecond}, "192.0.2.99:7471"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Resolve given up: %v, want context.Canceled", err)
	}
	if err := g.Resolve(testContext(t), l.Addr().String()); !errors.Is(err, rdmacm.ErrInvalidState) {
		t.Errorf("Resolve after a given-up one: %v, want ErrInvalidState", err)
	}
	ep := newEndpoint(t, testbed.Device(t))
	if err := g.Connect(testContext(t), l.Addr().String(), ep.qp, nil); !errors.Is(err, rdmacm.ErrInvalidState) {
		t.Errorf("Connect after a given-up Resolve: %v, want ErrInvalidState", err)
	}
	if err := g.Close(); err != nil {
		t.Errorf("Close after a given-up Resolve: %v", err)
	}
}

// TestResolveGivenUpBetweenSteps: a Resolve whose context ends once the
// address is resolved, before the route is asked for, leaves the connector
// only good for Close, as one given up during the route does: the
// identifier is past where a new Resolve starts.
func TestResolveGivenUpBetweenSteps(t *testing.T) {
	l := listen(t, 1)
	c := newConnector(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := c.Resolve(&cancelOnceResolved{Context: ctx, cancel: cancel, c: c}, l.Addr().String())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Resolve given up between address and route: %v, want context.Canceled", err)
	}
	if c.DeviceName() == "" {
		t.Fatal("the address was not resolved before the context ended")
	}
	if err := c.Resolve(testContext(t), l.Addr().String()); !errors.Is(err, rdmacm.ErrInvalidState) {
		t.Errorf("Resolve after one given up between its steps: %v, want ErrInvalidState", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// cancelOnceResolved is a context that ends when asked for its error once
// c's address is resolved (c has a device): Resolve asks before each of its
// two steps.
type cancelOnceResolved struct {
	context.Context
	cancel func()
	c      *rdmacm.Connector
}

func (r *cancelOnceResolved) Err() error {
	if r.c.DeviceName() != "" {
		r.cancel()
	}
	return r.Context.Err()
}

// cancelOnWait is a context cancelled a while after a call first waits on
// it (Done), which Resolve does once its request to rdma_cm is under way:
// however late that comes, the request is given up while under way.
type cancelOnWait struct {
	context.Context
	cancel func()
	after  time.Duration
	once   sync.Once
}

func (c *cancelOnWait) Done() <-chan struct{} {
	c.once.Do(func() { time.AfterFunc(c.after, c.cancel) })
	return c.Context.Done()
}

// TestConnectQPInUse: Connect and Accept refuse a QP that carries another
// connection before anything is sent, and that connection goes on; a QP whose
// connection was refused is the caller's again: closing the refused
// Connector leaves it alone, and it connects through another one (IB and
// RoCE; siw keeps the refused connection's endpoint on the QP).
func TestConnectQPInUse(t *testing.T) {
	l := listen(t, 4)
	o := connectWith(t, l, nil, nil)
	c := newConnector(t)
	if err := c.Resolve(testContext(t), l.Addr().String()); err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(testContext(t), "", o.activeEP.qp, nil); !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), "belongs to another connection") {
		t.Errorf("Connect with the QP of a live connection: %v, want EINVAL for a QP in use", err)
	}
	// Nothing was sent: the connector is still only resolved.
	if err := c.InitQP(newEndpoint(t, testbed.Device(t)).qp); err != nil {
		t.Errorf("InitQP after the refused Connect: %v (the request went out?)", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := message(testContext(t), o.activeEP, o.passiveEP); err != nil {
		t.Errorf("the live connection after the refused Connect: %v", err)
	}
	_, _, p, _ := request(t, l, nil)
	if err := p.Accept(testContext(t), o.passiveEP.qp, nil); !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), "belongs to another connection") {
		t.Errorf("Accept with the QP of a live connection: %v, want EINVAL for a QP in use", err)
	}
	if err := p.Reject(nil); err != nil {
		t.Errorf("Reject after the refused Accept: %v", err)
	}
	if err := message(testContext(t), o.passiveEP, o.activeEP); err != nil {
		t.Errorf("the live connection after the refused Accept: %v", err)
	}

	active, ep, passive, done := request(t, l, nil)
	if err := passive.Reject([]byte("not now")); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, rdmacm.ErrConnectionRefused) {
		t.Fatalf("Connect: %v, want ErrConnectionRefused", err)
	}
	if err := active.Close(); err != nil {
		t.Fatal(err)
	}
	if active.Transport() == verbs.TransportIWARP {
		// siw keeps the refused connection's endpoint on the QP: a second
		// connect of it fails with CONNECT_ERROR (EINVAL).
		t.Log("iWARP: a refused connection's QP is not connected again (siw keeps its endpoint)")
		return
	}
	again := newConnector(t)
	connected := make(chan error, 1)
	go func() { connected <- again.Connect(testContext(t), l.Addr().String(), ep.qp, nil) }()
	p, err := l.GetConnectionRequest(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	pep, accepted := accept(t, p, nil)
	if err := <-connected; err != nil {
		t.Fatalf("Connect of the refused connection's QP through another Connector: %v", err)
	}
	if err := again.CompleteConnect(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if err := <-accepted; err != nil {
		t.Fatal(err)
	}
	if err := message(testContext(t), ep, pep); err != nil {
		t.Errorf("message over the reused QP: %v", err)
	}
}

// message sends one 64-byte message from one end of a connection to the
// other and waits for both completions.
func message(ctx context.Context, from, to *endpoint) error {
	if err := to.qp.PostRecv([]verbs.RecvWR{{ID: 1, SGL: []verbs.SGE{to.mr.SGE(0, 64)}}}); err != nil {
		return err
	}
	if err := from.qp.PostSend([]verbs.SendWR{{ID: 2, Opcode: verbs.WRSend, Flags: verbs.SendSignaled, SGL: []verbs.SGE{from.mr.SGE(0, 64)}}}); err != nil {
		return err
	}
	for _, e := range []*endpoint{from, to} {
		wc := make([]verbs.WorkCompletion, 1)
		if _, err := e.cq.PollWait(ctx, wc); err != nil {
			return err
		}
		if err := wc[0].Err(); err != nil {
			return err
		}
	}
	return nil
}

// TestCompleteConnectAbandoned: when the passive side gives up after its
// accept went out (its Accept's context ended and it closed), the active
// side's CompleteConnect gives ErrConnectionAborted, as Reject would, and
// its QP is flushed. iWARP completes the connection in Connect: there the
// passive side's close is the connection's end (a transport limitation).
func TestCompleteConnectAbandoned(t *testing.T) {
	needTwoPhase(t, "no CompleteConnect step")
	l := listen(t, 1)
	active, ep, passive, done := request(t, l, nil)
	pep := newEndpoint(t, passive.DeviceName())
	ctx, cancel := context.WithCancel(context.Background())
	accepted := make(chan error, 1)
	go func() { accepted <- passive.Accept(ctx, pep.qp, nil) }()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-accepted; !errors.Is(err, context.Canceled) {
		t.Fatalf("Accept given up: %v, want context.Canceled", err)
	}
	if err := passive.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ep.qp.PostRecv([]verbs.RecvWR{{ID: 7, SGL: []verbs.SGE{ep.mr.SGE(0, 64)}}}); err != nil {
		t.Fatal(err)
	}
	// The passive side's REJ reaches the active side.
	for deadline := time.Now().Add(20 * time.Second); !rdmacm.Rejected(active); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the passive side's refusal did not arrive in 20 s")
		}
	}
	if err := active.CompleteConnect(testContext(t)); !errors.Is(err, rdmacm.ErrConnectionAborted) {
		t.Fatalf("CompleteConnect after the peer gave up: %v, want ErrConnectionAborted", err)
	}
	wc := make([]verbs.WorkCompletion, 1)
	if _, err := ep.cq.PollWait(testContext(t), wc); err != nil || wc[0].WRID != 7 || wc[0].Status != verbs.WCWRFlushErr {
		t.Errorf("the receive posted before CompleteConnect: %v, %+v; want it flushed", err, wc[0])
	}
}

// TestAcceptRefusedFlushes: when the requester refuses the accept (its
// Reject after Connect returned), Accept gives the refusal and flushes its
// QP: the receive posted for the connection completes. iWARP completes
// the connection in Connect and has no such refusal (a transport
// limitation).
func TestAcceptRefusedFlushes(t *testing.T) {
	needTwoPhase(t, "the requester cannot refuse the accept")
	l := listen(t, 1)
	active, _, passive, done := request(t, l, nil)
	pep := newEndpoint(t, passive.DeviceName())
	if err := passive.InitQP(pep.qp); err != nil {
		t.Fatal(err)
	}
	if err := pep.qp.PostRecv([]verbs.RecvWR{{ID: 5, SGL: []verbs.SGE{pep.mr.SGE(0, 64)}}}); err != nil {
		t.Fatal(err)
	}
	accepted := make(chan error, 1)
	go func() { accepted <- passive.Accept(testContext(t), pep.qp, nil) }()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := active.Reject([]byte("no thanks")); err != nil {
		t.Fatal(err)
	}
	var re *rdmacm.RejectError
	if err := <-accepted; !errors.Is(err, rdmacm.ErrConnectionRefused) || !errors.As(err, &re) || string(re.PrivateData) != "no thanks" {
		t.Fatalf("Accept refused by the requester: %v, want ErrConnectionRefused with its private data", err)
	}
	wc := make([]verbs.WorkCompletion, 1)
	if _, err := pep.cq.PollWait(testContext(t), wc); err != nil || wc[0].WRID != 5 || wc[0].Status != verbs.WCWRFlushErr {
		t.Errorf("the receive posted for the refused connection: %v, %+v; want it flushed", err, wc[0])
	}
}

// TestNotify: an Accept that waits for the requester's ready-to-use
// message (the requester holds its CompleteConnect back) returns, the
// connection established, once the passive side calls Notify, as on its
// QP's first message; the requester's CompleteConnect afterwards completes
// the connection, which carries a message each way. Notify refuses the
// active side, a request not accepted, and a closed connector. iWARP's
// connection is complete when Connect returns: there Notify on the
// accepted connection is a no-op (checked), and the wait it ends never
// happens (a transport limitation).
func TestNotify(t *testing.T) {
	l := listen(t, 1)
	active, ep, passive, done := request(t, l, nil)
	if err := passive.Notify(); !errors.Is(err, rdmacm.ErrInvalidState) {
		t.Errorf("Notify of a request not accepted: %v, want ErrInvalidState", err)
	}
	pep, accepted := accept(t, passive, nil)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := active.Notify(); !errors.Is(err, rdmacm.ErrInvalidState) {
		t.Errorf("Notify on the active side: %v, want ErrInvalidState", err)
	}
	if testbed.IWARP(t) {
		if err := <-accepted; err != nil {
			t.Fatal(err)
		}
		if err := passive.Notify(); err != nil {
			t.Errorf("Notify of an established iWARP connection: %v, want nil", err)
		}
		testbed.Limitation(t, "%s is iWARP, which completes the connection in Connect: no Accept waits for a ready-to-use message", testbed.Device(t))
	}
	select {
	case err := <-accepted:
		t.Fatalf("Accept returned (%v) before the requester's CompleteConnect or a Notify", err)
	case <-time.After(300 * time.Millisecond):
	}
	// Accept's state moves to accepting right after its rdma_accept.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		err := passive.Notify()
		if err == nil {
			break
		}
		if !errors.Is(err, rdmacm.ErrInvalidState) || time.Now().After(deadline) {
			t.Fatalf("Notify while Accept waits: %v", err)
		}
	}
	select {
	case err := <-accepted:
		if err != nil {
			t.Fatalf("Accept after Notify: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept still waiting 5 s after Notify")
	}
	if err := active.CompleteConnect(testContext(t)); err != nil {
		t.Fatalf("CompleteConnect after the passive side's Notify: %v", err)
	}
	if err := passive.Notify(); err != nil {
		t.Errorf("Notify of the established connection: %v, want nil", err)
	}
	for _, dir := range [][2]*endpoint{{ep, pep}, {pep, ep}} {
		from, to := dir[0], dir[1]
		if err := to.qp.PostRecv([]verbs.RecvWR{{ID: 1, SGL: []verbs.SGE{to.mr.SGE(0, 64)}}}); err != nil {
			t.Fatal(err)
		}
		copy(from.buf.Bytes(), "notified")
		if err := from.qp.PostSend([]verbs.SendWR{{ID: 2, Opcode: verbs.WRSend, Flags: verbs.SendSignaled,
			SGL: []verbs.SGE{from.mr.SGE(0, 8)}}}); err != nil {
			t.Fatal(err)
		}
		for _, e := range []*endpoint{from, to} {
			wc := make([]verbs.WorkCompletion, 1)
			if _, err := e.cq.PollWait(testContext(t), wc); err != nil || wc[0].Status != verbs.WCSuccess {
				t.Fatalf("message after Notify: %v, %+v", err, wc[0])
			}
		}
		if got := string(to.buf.Bytes()[:8]); got != "notified" {
			t.Errorf("received %q", got)
		}
	}
	if err := passive.Close(); err != nil {
		t.Fatal(err)
	}
	if err := passive.Notify(); !errors.Is(err, rdmacm.ErrClosed) {
		t.Errorf("Notify of a closed connector: %v, want ErrClosed", err)
	}
}

// TestPeerSRQ: each side's request or reply says whether its QP takes its
// receives from an SRQ, and the other side's ConnectionData shows it: a
// requester with an SRQ and an acceptor without, then the other way round.
// A message goes through the SRQ. iWARP carries no such flag: PeerSRQ is
// false on both sides there.
func TestPeerSRQ(t *testing.T) {
	for _, activeSRQ := range []bool{true, false} {
		l := listen(t, 1)
		ctx := testContext(t)
		active := newConnector(t)
		aep, pep := newEndpoint(t, testbed.Device(t)), newEndpoint(t, testbed.Device(t))
		withSRQ := pep
		if activeSRQ {
			withSRQ = aep
		}
		srq, err := withSRQ.pd.CreateSRQ(&verbs.SRQInitAttr{MaxWR: 8, MaxSGE: 1})
		if err != nil {
			t.Fatal(err)
		}
		qp, err := withSRQ.pd.CreateQP(&verbs.QPInitAttr{Type: verbs.QPTypeRC, SendCQ: withSRQ.cq, RecvCQ: withSRQ.cq, SRQ: srq,
			Cap: verbs.QPCap{MaxSendWR: 8, MaxSendSGE: 1}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { qp.Close(); srq.Close() })
		aqp, pqp := aep.qp, pep.qp
		if activeSRQ {
			aqp = qp
		} else {
			pqp = qp
		}
		done := make(chan error, 1)
		go func() { done <- active.Connect(ctx, l.Addr().String(), aqp, nil) }()
		passive, err := l.GetConnectionRequest(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { passive.Close() })
		iwarp := testbed.IWARP(t)
		if d, err := passive.ConnectionData(); err != nil || d.PeerSRQ != (activeSRQ && !iwarp) {
			t.Errorf("requester with SRQ %v: the request's PeerSRQ %v (%v)", activeSRQ, d.PeerSRQ, err)
		}
		accepted := make(chan error, 1)
		go func() { accepted <- passive.Accept(ctx, pqp, nil) }()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if d, err := active.ConnectionData(); err != nil || d.PeerSRQ != (!activeSRQ && !iwarp) {
			t.Errorf("acceptor with SRQ %v: the reply's PeerSRQ %v (%v)", !activeSRQ, d.PeerSRQ, err)
		}
		if !iwarp {
			if err := active.CompleteConnect(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if err := <-accepted; err != nil {
			t.Fatal(err)
		}
		if err := srq.PostRecv([]verbs.RecvWR{{ID: 3, SGL: []verbs.SGE{withSRQ.mr.SGE(0, 64)}}}); err != nil {
			t.Fatal(err)
		}
		from, fromQP := pep, pqp
		if !activeSRQ {
			from, fromQP = aep, aqp
		}
		copy(from.buf.Bytes(), "via the SRQ")
		if err := fromQP.PostSend([]verbs.SendWR{{ID: 4, Opcode: verbs.WRSend, Flags: verbs.SendSignaled,
			SGL: []verbs.SGE{from.mr.SGE(0, 11)}}}); err != nil {
			t.Fatal(err)
		}
		wc := make([]verbs.WorkCompletion, 1)
		if _, err := withSRQ.cq.PollWait(ctx, wc); err != nil || wc[0].WRID != 3 || wc[0].Status != verbs.WCSuccess {
			t.Fatalf("receive through the SRQ: %v, %+v", err, wc[0])
		}
		if got := string(withSRQ.buf.Bytes()[:11]); got != "via the SRQ" {
			t.Errorf("received %q", got)
		}
	}
}

// TestECE: a request's ECE options reach the passive side
// (ConnectionData.PeerECE), the accept's reach the active side with the
// request's vendor ID (as librdmacm's rdma_accept sends it); RejectECE
// refuses with IB CM's reason 35, from either side, its private data
// delivered. ECE without a vendor ID is refused before anything is sent.
// iWARP carries no ECE (PeerECE stays zero, checked) and no reasons (the
// refusal is one as Reject's).
func TestECE(t *testing.T) {
	iwarp := testbed.IWARP(t)
	l := listen(t, 2)
	ctx := testContext(t)
	if err := newConnector(t).Connect(ctx, l.Addr().String(), newEndpoint(t, testbed.Device(t)).qp,
		&rdmacm.ConnParams{ECE: &verbs.ECE{Options: 1}}); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("Connect with an ECE without vendor ID: %v, want EINVAL", err)
	}
	req := verbs.ECE{VendorID: 0x15b3, Options: 0x5}
	active, _, passive, done := request(t, l, &rdmacm.ConnParams{ECE: &req})
	want := req
	if iwarp {
		want = verbs.ECE{}
	}
	if d, err := passive.ConnectionData(); err != nil || d.PeerECE != want {
		t.Errorf("the request's ECE at the passive side: %+v (%v), want %+v", d.PeerECE, err, want)
	}
	pep := newEndpoint(t, passive.DeviceName())
	accepted := make(chan error, 1)
	go func() {
		accepted <- passive.Accept(ctx, pep.qp, &rdmacm.ConnParams{ECE: &verbs.ECE{VendorID: 0x2c9, Options: 0x1}})
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !iwarp {
		want = verbs.ECE{VendorID: req.VendorID, Options: 0x1}
	}
	if d, err := active.ConnectionData(); err != nil || d.PeerECE != want {
		t.Errorf("the accept's ECE at the active side: %+v (%v), want %+v", d.PeerECE, err, want)
	}
	if !iwarp {
		// The active side refuses the accept's options; the receive posted
		// for the connection comes back flushed.
		if err := pep.qp.PostRecv([]verbs.RecvWR{{ID: 1, SGL: []verbs.SGE{pep.mr.SGE(0, 8)}}}); err != nil {
			t.Fatal(err)
		}
		if err := active.RejectECE([]byte("options refused")); err != nil {
			t.Fatal(err)
		}
		var re *rdmacm.RejectError
		if err := <-accepted; !errors.As(err, &re) || re.Status != 35 || !re.ConsumerReject() || string(re.PrivateData) != "options refused" {
			t.Errorf("Accept refused with RejectECE: %v, want a RejectError of reason 35 with the private data", err)
		}
		wc := make([]verbs.WorkCompletion, 1)
		if _, err := pep.cq.PollWait(ctx, wc); err != nil || wc[0].Status != verbs.WCWRFlushErr {
			t.Errorf("the refused accept's QP: %v, %+v; want it flushed", err, wc[0])
		}
	} else if err := <-accepted; err != nil {
		t.Fatal(err)
	}

	// The passive side refuses the request's options.
	active2, _, passive2, done2 := request(t, l, &rdmacm.ConnParams{ECE: &req})
	if err := passive2.RejectECE([]byte("no such option")); err != nil {
		t.Fatal(err)
	}
	var re *rdmacm.RejectError
	err := <-done2
	if !errors.As(err, &re) || !errors.Is(err, rdmacm.ErrConnectionRefused) || string(re.PrivateData) != "no such option" {
		t.Fatalf("Connect refused with RejectECE: %v, want a refusal with the private data", err)
	}
	if !iwarp && (re.Status != 35 || !re.ConsumerReject() || !strings.Contains(re.Error(), "vendor option not supported")) {
		t.Errorf("Connect refused with RejectECE: status %d (%v), want reason 35, a consumer's", re.Status, re)
	}
	if d, err := active2.ConnectionData(); err != nil || string(d.PrivateData) != "no such option" {
		t.Errorf("ConnectionData after the refusal: %+v, %v", d, err)
	}
}
