package rdmacm_test

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/go-rdma/rdma/internal/testbed"
	"github.com/go-rdma/rdma/rdmacm"
	"github.com/go-rdma/rdma/verbs"
)

// optioned is one connection made by connectWith: both sides' connectors
// and endpoints.
type optioned struct {
	active, passive     *rdmacm.Connector
	activeEP, passiveEP *endpoint
}

// connectWith connects a fresh connector to l, setActive run on it before
// Connect and setPassive on the request's connector before Accept (either
// may be nil), and sends one message from the active side to the passive
// one over the connection.
func connectWith(t *testing.T, l *rdmacm.Listener, setActive, setPassive func(*rdmacm.Connector) error) optioned {
	t.Helper()
	return connectParams(t, l, setActive, setPassive, nil, nil)
}

// connectParams is connectWith with the connection parameters of each side.
func connectParams(t *testing.T, l *rdmacm.Listener, setActive, setPassive func(*rdmacm.Connector) error, activeParams, passiveParams *rdmacm.ConnParams) optioned {
	t.Helper()
	ctx := testContext(t)
	o := optioned{active: newConnector(t)}
	if setActive != nil {
		if err := setActive(o.active); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.active.Resolve(ctx, l.Addr().String()); err != nil {
		t.Fatal(err)
	}
	o.activeEP = newEndpoint(t, o.active.DeviceName())
	done := make(chan error, 1)
	go func() { done <- o.active.Connect(ctx, "", o.activeEP.qp, activeParams) }()
	var err error
	if o.passive, err = l.GetConnectionRequest(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.passive.Close() })
	if setPassive != nil {
		if err := setPassive(o.passive); err != nil {
			t.Fatal(err)
		}
	}
	o.passiveEP = newEndpoint(t, o.passive.DeviceName())
	postRecv(t, o.passive, o.passiveEP)
	accepted := make(chan error, 1)
	go func() { accepted <- o.passive.Accept(ctx, o.passiveEP.qp, passiveParams) }()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := o.active.CompleteConnect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-accepted; err != nil {
		t.Fatal(err)
	}
	ep := o.activeEP
	if err := ep.qp.PostSend([]verbs.SendWR{{ID: 2, Opcode: verbs.WRSend, Flags: verbs.SendSignaled,
		SGL: []verbs.SGE{ep.mr.SGE(0, 64)}}}); err != nil {
		t.Fatal(err)
	}
	for _, e := range []*endpoint{o.activeEP, o.passiveEP} {
		wc := make([]verbs.WorkCompletion, 1)
		if _, err := e.cq.PollWait(ctx, wc); err != nil {
			t.Fatal(err)
		}
		if err := wc[0].Err(); err != nil {
			t.Fatal(err)
		}
	}
	return o
}

// query returns the attributes of both QPs of a connection.
func (o optioned) query(t *testing.T) (active, passive *verbs.QPAttr) {
	t.Helper()
	var err error
	if active, err = o.activeEP.qp.Query(); err != nil {
		t.Fatal(err)
	}
	if passive, err = o.passiveEP.qp.Query(); err != nil {
		t.Fatal(err)
	}
	return active, passive
}

// TestConnectorOptions: a type of service set before Resolve becomes the
// traffic class of both QPs on RoCE, and an ACK timeout set before Connect
// or Accept the timeout of that side's QP, where a connection without them
// has rdma_cm's defaults. On iWARP the QPs have neither attribute: there the
// options are taken and the connection carries traffic.
func TestConnectorOptions(t *testing.T) {
	const tos = 0x68 // DSCP 26 (AF31)
	l := listen(t, 4)
	plain := connectWith(t, l, nil, nil)
	defActive, defPassive := plain.query(t)
	// Timeouts that differ from the defaults, 1 to 31.
	activeTimeout, passiveTimeout := int(defActive.Timeout%31+1), int(defPassive.Timeout%31+1)
	set := connectWith(t, l, func(c *rdmacm.Connector) error {
		if err := c.SetTOS(tos); err != nil {
			return err
		}
		return c.SetAckTimeout(activeTimeout)
	}, func(c *rdmacm.Connector) error { return c.SetAckTimeout(passiveTimeout) })
	active, passive := set.query(t)
	if set.active.Transport() == verbs.TransportIWARP {
		t.Logf("iWARP: options taken, connection up; QP timeout %d / %d and traffic class %#x / %#x are not iWARP attributes",
			active.Timeout, passive.Timeout, active.AHAttr.GRH.TrafficClass, passive.AHAttr.GRH.TrafficClass)
		return
	}
	t.Logf("defaults: traffic class %#x / %#x, timeout %d / %d (active / passive)",
		defActive.AHAttr.GRH.TrafficClass, defPassive.AHAttr.GRH.TrafficClass, defActive.Timeout, defPassive.Timeout)
	if defActive.AHAttr.GRH.TrafficClass == tos {
		t.Fatalf("the device's default traffic class is %#x already: the test shows nothing", tos)
	}
	if active.AHAttr.GRH.TrafficClass != tos || passive.AHAttr.GRH.TrafficClass != tos {
		t.Errorf("traffic class %#x / %#x after SetTOS(%#x)", active.AHAttr.GRH.TrafficClass, passive.AHAttr.GRH.TrafficClass, tos)
	}
	if int(active.Timeout) != activeTimeout || int(passive.Timeout) != passiveTimeout {
		t.Errorf("QP timeout %d / %d after SetAckTimeout(%d) / (%d)", active.Timeout, passive.Timeout, activeTimeout, passiveTimeout)
	}
	// Set before Resolve, the active side's timeout becomes the route's
	// packet lifetime, and the passive side's QP timeout follows.
	if _, p := connectWith(t, l, func(c *rdmacm.Connector) error { return c.SetAckTimeout(activeTimeout) }, nil).query(t); int(p.Timeout) != activeTimeout {
		t.Errorf("active SetAckTimeout(%d) alone: passive QP timeout %d, want the same", activeTimeout, p.Timeout)
	}
	// Options of one connector leave the next one's alone.
	if a, _ := connectWith(t, l, nil, nil).query(t); a.AHAttr.GRH.TrafficClass != defActive.AHAttr.GRH.TrafficClass || a.Timeout != defActive.Timeout {
		t.Errorf("a later connection has traffic class %#x, timeout %d", a.AHAttr.GRH.TrafficClass, a.Timeout)
	}
}

// TestRetryCounts: the request's retry count reaches both QPs and each
// side's RNR retry count the peer's QP, where a connection without them
// has 7 and 7. A QP told to make no RNR retries fails a send that finds no
// receive posted with WCRNRRetryExcErr; with 7 (without end) the send
// waits until the receive is posted. iWARP has neither count (TCP
// retransmits, and a message without a receive ends the connection):
// there the counts are taken and the connection carries traffic.
func TestRetryCounts(t *testing.T) {
	l := listen(t, 4)
	plain := connectWith(t, l, nil, nil)
	set := connectParams(t, l, nil, nil, &rdmacm.ConnParams{Retry: &rdmacm.Retry{Count: 3, RNR: 5}},
		&rdmacm.ConnParams{Retry: &rdmacm.Retry{Count: 6, RNR: 0}})
	if set.active.Transport() == verbs.TransportIWARP {
		t.Log("iWARP: retry counts taken, connection up; QPs have no retry counts")
		return
	}
	defActive, defPassive := plain.query(t)
	active, passive := set.query(t)
	for _, c := range []struct {
		name               string
		qp                 *verbs.QPAttr
		wantRetry, wantRNR uint8
	}{
		{"default, active", defActive, 7, 7},
		{"default, passive", defPassive, 7, 7},
		{"active", active, 3, 0},
		{"passive", passive, 3, 5},
	} {
		if c.qp.RetryCnt != c.wantRetry || c.qp.RNRRetry != c.wantRNR {
			t.Errorf("%s QP: retry count %d, RNR retry %d; want %d and %d", c.name, c.qp.RetryCnt, c.qp.RNRRetry, c.wantRetry, c.wantRNR)
		}
	}

	// connectWith's message took the passive side's one receive.
	send := func(ep *endpoint) {
		t.Helper()
		if err := ep.qp.PostSend([]verbs.SendWR{{ID: 3, Opcode: verbs.WRSend, Flags: verbs.SendSignaled,
			SGL: []verbs.SGE{ep.mr.SGE(0, 64)}}}); err != nil {
			t.Fatal(err)
		}
	}
	wc := make([]verbs.WorkCompletion, 1)
	send(set.activeEP)
	if _, err := set.activeEP.cq.PollWait(testContext(t), wc); err != nil {
		t.Fatal(err)
	}
	if wc[0].Status != verbs.WCRNRRetryExcErr {
		t.Errorf("send with no RNR retries to a QP without receives: %v, want %v", wc[0].Status, verbs.WCRNRRetryExcErr)
	}

	send(plain.activeEP)
	waitCtx, cancel := context.WithTimeout(testContext(t), time.Second)
	defer cancel()
	if n, err := plain.activeEP.cq.PollWait(waitCtx, wc); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("send with RNR retries without end to a QP without receives: %d completions (%v) in 1 s, %v; want none", n, wc[0].Status, err)
	}
	if err := plain.passiveEP.qp.PostRecv([]verbs.RecvWR{{ID: 4, SGL: []verbs.SGE{plain.passiveEP.mr.SGE(0, 64)}}}); err != nil {
		t.Fatal(err)
	}
	for _, ep := range []*endpoint{plain.activeEP, plain.passiveEP} {
		if _, err := ep.cq.PollWait(testContext(t), wc); err != nil {
			t.Fatal(err)
		}
		if err := wc[0].Err(); err != nil {
			t.Errorf("after the receive was posted: %v", err)
		}
	}
}

// TestOptionStates: each option is refused once it can no longer apply.
func TestOptionStates(t *testing.T) {
	l := listen(t, 4)
	o := connectWith(t, l, nil, nil)
	for _, c := range []*rdmacm.Connector{o.active, o.passive} {
		if err := c.SetTOS(0x68); !errors.Is(err, rdmacm.ErrInvalidState) {
			t.Errorf("SetTOS of a connected connector: %v, want ErrInvalidState", err)
		}
		if err := c.SetAckTimeout(14); !errors.Is(err, rdmacm.ErrInvalidState) {
			t.Errorf("SetAckTimeout of a connected connector: %v, want ErrInvalidState", err)
		}
		if err := c.SetReuseAddr(true); !errors.Is(err, rdmacm.ErrInvalidState) {
			t.Errorf("SetReuseAddr of a connected connector: %v, want ErrInvalidState", err)
		}
	}
}

// TestReuseAddr: connectors that allow it bind one address and port; a
// connector that does not, or one binding next to one that does not, gets
// EADDRINUSE.
func TestReuseAddr(t *testing.T) {
	bind := func(reuse bool, addr string) (*rdmacm.Connector, error) {
		c := newConnector(t)
		if err := c.SetReuseAddr(reuse); err != nil {
			t.Fatal(err)
		}
		return c, c.Bind(addr)
	}
	first, err := bind(true, l0(t))
	if err != nil {
		t.Fatal(err)
	}
	addr := first.LocalAddr().String()
	if _, err := bind(true, addr); err != nil {
		t.Errorf("second Bind of %s, both with SetReuseAddr: %v", addr, err)
	}
	if _, err := bind(false, addr); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("Bind of %s without SetReuseAddr: %v, want EADDRINUSE", addr, err)
	}
	alone, err := bind(false, l0(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bind(true, alone.LocalAddr().String()); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("Bind with SetReuseAddr next to a connector without it: %v, want EADDRINUSE", err)
	}
	// The shared port still connects.
	l := listen(t, 4)
	c, err := bind(true, addr)
	if err != nil {
		t.Fatal(err)
	}
	ep := newEndpoint(t, testbed.Device(t))
	ctx := testContext(t)
	done := make(chan error, 1)
	go func() { done <- c.Connect(ctx, l.Addr().String(), ep.qp, nil) }()
	p, err := l.GetConnectionRequest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if got := p.PeerAddr().String(); got != addr {
		t.Errorf("the listener sees the request from %s, want %s", got, addr)
	}
	if err := p.Reject(nil); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, rdmacm.ErrConnectionRefused) {
		t.Errorf("Connect after Reject: %v", err)
	}
}

// TestEndpointConfigure: EndpointOptions.Configure sets the options of
// Dial's and Listener.Accept's connectors, and its error ends Accept with
// the request refused.
func TestEndpointConfigure(t *testing.T) {
	const tos, timeout = 0x68, 17
	ctx := testContext(t)
	l := listen(t, 4)
	accepted := make(chan *rdmacm.Endpoint, 1)
	go func() {
		e, err := l.Accept(ctx, &rdmacm.EndpointOptions{Configure: func(c *rdmacm.Connector) error {
			return c.SetAckTimeout(timeout + 1)
		}})
		if err != nil {
			t.Error(err)
		}
		accepted <- e
	}()
	client, err := rdmacm.Dial(ctx, l.Addr().String(), &rdmacm.EndpointOptions{Configure: func(c *rdmacm.Connector) error {
		if err := c.SetTOS(tos); err != nil {
			return err
		}
		return c.SetAckTimeout(timeout)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server := <-accepted
	if server == nil {
		t.FailNow()
	}
	defer server.Close()
	if client.Transport() == verbs.TransportIB {
		for _, e := range []struct {
			ep      *rdmacm.Endpoint
			timeout int
		}{{client, timeout}, {server, timeout + 1}} {
			a, err := e.ep.QP.Query()
			if err != nil {
				t.Fatal(err)
			}
			if a.AHAttr.GRH.TrafficClass != tos || int(a.Timeout) != e.timeout {
				t.Errorf("QP traffic class %#x, timeout %d; want %#x, %d", a.AHAttr.GRH.TrafficClass, a.Timeout, tos, e.timeout)
			}
		}
	}

	// A Configure that fails: Accept returns its error and Dial is refused.
	fail := errors.New("configure fails")
	refusedDial := make(chan error, 1)
	go func() {
		_, err := rdmacm.Dial(ctx, l.Addr().String(), nil)
		refusedDial <- err
	}()
	if _, err := l.Accept(ctx, &rdmacm.EndpointOptions{Configure: func(*rdmacm.Connector) error { return fail }}); !errors.Is(err, fail) {
		t.Errorf("Accept with a failing Configure: %v", err)
	}
	if err := <-refusedDial; !errors.Is(err, rdmacm.ErrConnectionRefused) {
		t.Errorf("Dial refused by a failing Configure: %v, want ErrConnectionRefused", err)
	}
	// And in Dial, before anything is sent.
	if _, err := rdmacm.Dial(ctx, l.Addr().String(), &rdmacm.EndpointOptions{Configure: func(c *rdmacm.Connector) error {
		return c.SetAckTimeout(rdmacm.MaxAckTimeout + 1)
	}}); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("Dial with a failing Configure: %v, want EINVAL", err)
	}
}
