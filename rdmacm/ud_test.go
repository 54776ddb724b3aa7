package rdmacm_test

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/go-rdma/rdma/internal/testbed"
	"github.com/go-rdma/rdma/rdmacm"
	"github.com/go-rdma/rdma/verbs"
)

// rdmaUDPQKey is the Q_Key rdma_cm gives the UDP port space (RDMA_UDP_QKEY).
const rdmaUDPQKey = 0x01234567

// needUD skips t where the device under test has no UD QPs (iWARP): a
// transport limitation.
func needUD(t *testing.T) {
	t.Helper()
	ctx, err := verbs.Open(testbed.Device(t))
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Close()
	pd, err := ctx.AllocPD()
	if err != nil {
		t.Fatal(err)
	}
	defer pd.Close()
	cq, err := ctx.CreateCQ(1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cq.Close()
	qp, err := pd.CreateQP(&verbs.QPInitAttr{Type: verbs.QPTypeUD, SendCQ: cq, RecvCQ: cq,
		Cap: verbs.QPCap{MaxSendWR: 1, MaxRecvWR: 1, MaxSendSGE: 1, MaxRecvSGE: 1}})
	if errors.Is(err, syscall.EOPNOTSUPP) {
		testbed.Limitation(t, "%s: no UD QPs (%v): iWARP has neither UD nor multicast", ctx.Name(), err)
	}
	if err != nil {
		t.Fatal(err)
	}
	qp.Close()
}

// pollOne waits for ep's next completion and checks its status.
func pollOne(t *testing.T, ctx context.Context, ep *endpoint) verbs.WorkCompletion {
	t.Helper()
	wc := make([]verbs.WorkCompletion, 1)
	if _, err := ep.cq.PollWait(ctx, wc); err != nil {
		t.Fatal(err)
	}
	if err := wc[0].Err(); err != nil {
		t.Fatal(err)
	}
	return wc[0]
}

// postUDRecv posts a receive for a datagram of up to 64 bytes at off, GRH
// included before it.
func postUDRecv(t *testing.T, ep *endpoint, id uint64, off int) {
	t.Helper()
	if err := ep.qp.PostRecv([]verbs.RecvWR{{ID: id, SGL: []verbs.SGE{ep.mr.SGE(off, verbs.GRHSize+64)}}}); err != nil {
		t.Fatal(err)
	}
}

// sendUD sends msg from ep's buffer at off to the QP qpn, qkey behind ah,
// with ep's QP number as immediate data (as udaddy does), and waits for
// the send's completion.
func sendUD(t *testing.T, ctx context.Context, ep *endpoint, off int, msg string, ah *verbs.AH, qpn, qkey uint32) {
	t.Helper()
	copy(ep.buf.Bytes()[off:], msg)
	if err := ep.qp.PostSend([]verbs.SendWR{{ID: 9, Opcode: verbs.WRSendWithImm, Flags: verbs.SendSignaled, Imm: ep.qp.Num(),
		SGL: []verbs.SGE{ep.mr.SGE(off, len(msg))}, AH: ah, RemoteQPN: qpn, RemoteQKey: qkey}}); err != nil {
		t.Fatal(err)
	}
	pollOne(t, ctx, ep)
}

// received checks that wc received msg at off of ep's buffer from QP src.
func received(t *testing.T, ep *endpoint, wc verbs.WorkCompletion, off int, msg string, src uint32) {
	t.Helper()
	got := string(ep.buf.Bytes()[off+verbs.GRHSize : off+verbs.GRHSize+len(msg)])
	if wc.Opcode != verbs.WCRecv || wc.ByteLen != uint32(verbs.GRHSize+len(msg)) || wc.SrcQP != src || got != msg {
		t.Errorf("received %q, completion %+v; want %q from QP %d", got, wc, msg, src)
	}
}

// TestUDLookup: a UD connector's Connect finds the QP a UD listener answers
// with, private data of the largest size going both ways, and datagrams
// then go both ways; the same QP answers a second lookup.
func TestUDLookup(t *testing.T) {
	needUD(t)
	ctx := testContext(t)
	l, err := rdmacm.ListenUD(l0(t), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var server *endpoint
	lookup := func() (*rdmacm.Connector, *endpoint) {
		c := newUDConnector(t)
		if err := c.Resolve(ctx, l.Addr().String()); err != nil {
			t.Fatal(err)
		}
		ask := pattern(c.MaxPrivateData(rdmacm.MsgConnect, false))
		ep := newEndpointOf(t, c.DeviceName(), verbs.QPTypeUD)
		done := make(chan error, 1)
		go func() { done <- c.Connect(ctx, "", ep.qp, &rdmacm.ConnParams{PrivateData: ask}) }()
		p, err := l.GetConnectionRequest(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if d, err := p.ConnectionData(); err != nil || !bytes.Equal(d.PrivateData, ask) {
			t.Errorf("the listener got %d bytes %x, %v; want %d bytes", len(d.PrivateData), d.PrivateData, err, len(ask))
		}
		if server == nil {
			server = newEndpointOf(t, p.DeviceName(), verbs.QPTypeUD)
		}
		answer := pattern(p.MaxPrivateData(rdmacm.MsgAccept, false))
		if err := p.Accept(ctx, server.qp, &rdmacm.ConnParams{PrivateData: answer}); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if d, err := c.ConnectionData(); err != nil || !bytes.Equal(d.PrivateData, answer) {
			t.Errorf("the connector got %d bytes %x, %v; want %d bytes", len(d.PrivateData), d.PrivateData, err, len(answer))
		}
		if err := p.Disconnect(ctx); !errors.Is(err, rdmacm.ErrUnsupported) {
			t.Errorf("Disconnect of an answered UD request: %v, want ErrUnsupported", err)
		}
		return c, ep
	}
	c, client := lookup()
	t.Logf("private data limits: lookup %d, answer %d (framed)", c.MaxPrivateData(rdmacm.MsgConnect, false), c.MaxPrivateData(rdmacm.MsgAccept, false))
	peer, err := c.UDPeer()
	if err != nil {
		t.Fatal(err)
	}
	attr, err := server.qp.Query()
	if err != nil {
		t.Fatal(err)
	}
	if peer.QPNum != server.qp.Num() || peer.QKey != rdmaUDPQKey || attr.QKey != rdmaUDPQKey {
		t.Errorf("UDPeer QP %d, Q_Key %#x; the server's QP is %d with Q_Key %#x, want %#x", peer.QPNum, peer.QKey, server.qp.Num(), attr.QKey, rdmaUDPQKey)
	}
	if err := c.CompleteConnect(ctx); err != nil {
		t.Errorf("CompleteConnect of a UD connector: %v", err)
	}
	if err := c.Disconnect(ctx); !errors.Is(err, rdmacm.ErrUnsupported) {
		t.Errorf("Disconnect of a UD connector: %v, want ErrUnsupported", err)
	}

	// A datagram to the peer, and the reply through an AH from its completion.
	ah, err := client.pd.CreateAH(&peer.AHAttr)
	if err != nil {
		t.Fatal(err)
	}
	defer ah.Close()
	postUDRecv(t, server, 1, 0)
	postUDRecv(t, client, 1, 0)
	sendUD(t, ctx, client, 1024, "lookup found you", ah, peer.QPNum, peer.QKey)
	wc := pollOne(t, ctx, server)
	received(t, server, wc, 0, "lookup found you", client.qp.Num())
	reply, err := server.pd.CreateAHFromWC(1, &wc, server.buf.Bytes()[:verbs.GRHSize])
	if err != nil {
		t.Fatal(err)
	}
	defer reply.Close()
	sendUD(t, ctx, server, 1024, "and I you", reply, wc.Imm, attr.QKey)
	received(t, client, pollOne(t, ctx, client), 0, "and I you", server.qp.Num())

	// The server's QP answers another lookup.
	c2, _ := lookup()
	if p2, err := c2.UDPeer(); err != nil || p2.QPNum != server.qp.Num() {
		t.Errorf("second lookup: QP %d, %v; want %d", p2.QPNum, err, server.qp.Num())
	}
}

// TestUDReject: a refused lookup carries the SIDR status and the private
// data; a lookup of a port nobody listens on is refused by the stack.
func TestUDReject(t *testing.T) {
	needUD(t)
	ctx := testContext(t)
	l, err := rdmacm.ListenUD(l0(t), 4)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	connect := func(addr string) chan error {
		c := newUDConnector(t)
		ep := newEndpointOf(t, testbed.Device(t), verbs.QPTypeUD)
		done := make(chan error, 1)
		go func() { done <- c.Connect(ctx, addr, ep.qp, nil) }()
		return done
	}
	done := connect(l.Addr().String())
	p, err := l.GetConnectionRequest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Reject([]byte("not for you")); err != nil {
		t.Fatal(err)
	}
	err = <-done
	var rej *rdmacm.RejectError
	if !errors.As(err, &rej) || !errors.Is(err, rdmacm.ErrConnectionRefused) || !rej.UD || !rej.ConsumerReject() || string(rej.PrivateData) != "not for you" {
		t.Errorf("Connect refused by Reject: %v (%+v)", err, rej)
	}

	addr := l.Addr().String()
	l.Close()
	err = <-connect(addr)
	if !errors.As(err, &rej) || !errors.Is(err, rdmacm.ErrConnectionRefused) || rej.ConsumerReject() {
		t.Errorf("Connect with nobody listening: %v, want a refusal by the stack", err)
	}
	t.Logf("nobody listening: %v", err)
}

// TestMulticast: two UD connectors bound to the device join a group; what
// one sends to the group the other's QP receives, until it leaves.
func TestMulticast(t *testing.T) {
	needUD(t)
	ctx := testContext(t)
	const group = "239.1.2.3"
	join := func() (*rdmacm.Connector, *endpoint, rdmacm.UDPeer) {
		c := newUDBound(t)
		ep := newEndpointOf(t, testbed.Device(t), verbs.QPTypeUD)
		p, err := c.JoinMulticast(ctx, group, ep.qp)
		if err != nil {
			t.Fatal(err)
		}
		return c, ep, p
	}
	rc, recv, _ := join()
	sc, send, peer := join()
	t.Logf("group %s: %+v", group, peer)
	if want := netip.MustParseAddr("::ffff:" + group).As16(); peer.QPNum != rdmacm.MulticastQPN || !peer.AHAttr.IsGlobal || peer.AHAttr.GRH.DGID != want {
		t.Errorf("group peer %+v, want QP %#x and GID %x", peer, rdmacm.MulticastQPN, want)
	}
	if _, err := sc.JoinMulticast(ctx, group, send.qp); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("second join of %s: %v, want EADDRINUSE", group, err)
	}
	ah, err := send.pd.CreateAH(&peer.AHAttr)
	if err != nil {
		t.Fatal(err)
	}
	defer ah.Close()
	msgs := []string{"to all of you", "once more", "and a third"}
	for i := range msgs {
		postUDRecv(t, recv, uint64(i), 512*i)
	}
	for _, m := range msgs {
		sendUD(t, ctx, send, 2048, m, ah, peer.QPNum, peer.QKey)
	}
	for _, m := range msgs {
		wc := pollOne(t, ctx, recv)
		received(t, recv, wc, 512*int(wc.WRID), m, send.qp.Num())
	}

	// A second member with the same QP: the QP stays attached until both
	// have left.
	rc2 := newUDBound(t)
	if _, err := rc2.JoinMulticast(ctx, group+":4791", recv.qp); err != nil {
		t.Fatal(err)
	}
	if err := rc.LeaveMulticast(group); err != nil {
		t.Fatal(err)
	}
	if err := rc.LeaveMulticast(group); !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Errorf("second leave: %v, want EADDRNOTAVAIL", err)
	}
	postUDRecv(t, recv, 8, 0)
	sendUD(t, ctx, send, 2048, "still here?", ah, peer.QPNum, peer.QKey)
	received(t, recv, pollOne(t, ctx, recv), 0, "still here?", send.qp.Num())
	if err := rc2.LeaveMulticast(group); err != nil {
		t.Fatal(err)
	}
	postUDRecv(t, recv, 7, 0)
	sendUD(t, ctx, send, 2048, "gone?", ah, peer.QPNum, peer.QKey)
	wcs := make([]verbs.WorkCompletion, 1)
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if n, err := recv.cq.PollWait(short, wcs); n != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("after leaving, the QP still receives: %d completions (%+v), %v", n, wcs[0], err)
	}
	// Close leaves what is joined; the QP closes after it (cleanup).
	if err := sc.Close(); err != nil {
		t.Fatal(err)
	}
}

// newUDConnector returns a new UD connector, closed at the end of the test.
func newUDConnector(t *testing.T) *rdmacm.Connector {
	t.Helper()
	c, err := rdmacm.NewUDConnector()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newUDBound returns a UD connector bound to the device under test.
func newUDBound(t *testing.T) *rdmacm.Connector {
	t.Helper()
	c := newUDConnector(t)
	if err := c.Bind(l0(t)); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestMulticastGivenUp: a join given up (its ctx ended) leaves no trace: the
// next join gets its own group, and the first is joined only if it had
// completed. A connector that then looks up a UD peer can still leave.
func TestMulticastGivenUp(t *testing.T) {
	needUD(t)
	ctx := testContext(t)
	c := newUDBound(t)
	ep := newEndpointOf(t, testbed.Device(t), verbs.QPTypeUD)
	gone, cancel := context.WithCancel(ctx)
	cancel()
	_, err := c.JoinMulticast(gone, "239.1.2.8", ep.qp)
	firstJoined := err == nil
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("join with an ended ctx: %v", err)
	}
	t.Logf("join with an ended ctx: %v", err)
	p, err := c.JoinMulticast(ctx, "239.1.2.9", ep.qp)
	if err != nil {
		t.Fatal(err)
	}
	if want := netip.MustParseAddr("::ffff:239.1.2.9").As16(); p.AHAttr.GRH.DGID != want {
		t.Errorf("second join got GID %x, want %x", p.AHAttr.GRH.DGID, want)
	}

	// A lookup, then the leaves.
	lookupAt(t, ctx, l0(t), c, ep)
	if err := c.LeaveMulticast("239.1.2.9"); err != nil {
		t.Errorf("leave after Connect: %v", err)
	}
	if err := c.LeaveMulticast("239.1.2.8"); firstJoined && err != nil || !firstJoined && !errors.Is(err, syscall.EADDRNOTAVAIL) {
		t.Errorf("leave of the group whose join was given up (joined: %v): %v", firstJoined, err)
	}
}

// TestUDLookupIPv6: a UD lookup over the device's IPv6 link-local address,
// and a datagram to the peer it finds.
func TestUDLookupIPv6(t *testing.T) {
	needUD(t)
	ctx := testContext(t)
	c := newUDConnector(t)
	ep := newEndpointOf(t, testbed.Device(t), verbs.QPTypeUD)
	server := lookupAt(t, ctx, netip.AddrPortFrom(linkLocal(t, testbed.Netdev(t)), 0).String(), c, ep)
	peer, err := c.UDPeer()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("lookup over %v: %+v", c.PeerAddr(), peer)
	ah, err := ep.pd.CreateAH(&peer.AHAttr)
	if err != nil {
		t.Fatal(err)
	}
	defer ah.Close()
	postUDRecv(t, server, 1, 0)
	sendUD(t, ctx, ep, 1024, "over IPv6", ah, peer.QPNum, peer.QKey)
	received(t, server, pollOne(t, ctx, server), 0, "over IPv6", ep.qp.Num())
}

// lookupAt has c look up, with ep's QP, the QP a UD listener on addr
// answers with: a fresh UD endpoint's, which it returns.
func lookupAt(t *testing.T, ctx context.Context, addr string, c *rdmacm.Connector, ep *endpoint) *endpoint {
	t.Helper()
	l, err := rdmacm.ListenUD(addr, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	done := make(chan error, 1)
	go func() { done <- c.Connect(ctx, l.Addr().String(), ep.qp, nil) }()
	req, err := l.GetConnectionRequest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { req.Close() })
	server := newEndpointOf(t, req.DeviceName(), verbs.QPTypeUD)
	if err := req.Accept(ctx, server.qp, nil); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return server
}
