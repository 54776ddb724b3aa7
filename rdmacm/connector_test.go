package rdmacm_test

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
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
