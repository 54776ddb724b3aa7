package rdmacm_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/go-rdma/rdma/internal/testbed"
	"github.com/go-rdma/rdma/rdmacm"
	"github.com/go-rdma/rdma/verbs"
)

// endpoint is the verbs side of one connection: device, PD, CQ, RC QP and a
// registered buffer.
type endpoint struct {
	ctx *verbs.Context
	pd  *verbs.PD
	cq  *verbs.CQ
	qp  *verbs.QP
	buf *verbs.Buffer
	mr  *verbs.MR
}

func newEndpoint(t *testing.T, device string) *endpoint {
	t.Helper()
	return newEndpointOf(t, device, verbs.QPTypeRC)
}

// newEndpointOf is newEndpoint with a QP of type typ.
func newEndpointOf(t *testing.T, device string, typ verbs.QPType) *endpoint {
	t.Helper()
	e := &endpoint{}
	var err error
	if e.ctx, err = verbs.Open(device); err != nil {
		t.Fatal(err)
	}
	if e.pd, err = e.ctx.AllocPD(); err != nil {
		t.Fatal(err)
	}
	if e.cq, err = e.ctx.CreateCQ(32, nil); err != nil {
		t.Fatal(err)
	}
	e.qp, err = e.pd.CreateQP(&verbs.QPInitAttr{Type: typ, SendCQ: e.cq, RecvCQ: e.cq,
		Cap: verbs.QPCap{MaxSendWR: 16, MaxRecvWR: 16, MaxSendSGE: 1, MaxRecvSGE: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if e.buf, err = verbs.NewBuffer(4096, nil); err != nil {
		t.Fatal(err)
	}
	if e.mr, err = e.pd.RegMR(e.buf, 0, 0, verbs.AccessLocalWrite|verbs.AccessRemoteWrite|verbs.AccessRemoteRead); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, c := range []interface{ Close() error }{e.qp, e.mr, e.buf, e.cq, e.pd, e.ctx} {
			if err := c.Close(); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	return e
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// listen starts a listener on the device under test's address, port 0.
func listen(t *testing.T, backlog int) *rdmacm.Listener {
	t.Helper()
	l, err := rdmacm.Listen(net.JoinHostPort(testbed.Addr(t), "0"), backlog)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func newConnector(t *testing.T) *rdmacm.Connector {
	t.Helper()
	c, err := rdmacm.NewConnector()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// request connects a fresh connector to l with params in the background and
// returns it, the passive side's connector, and the result of Connect.
func request(t *testing.T, l *rdmacm.Listener, params *rdmacm.ConnParams) (*rdmacm.Connector, *endpoint, *rdmacm.Connector, chan error) {
	t.Helper()
	ctx := testContext(t)
	active := newConnector(t)
	ep := newEndpoint(t, testbed.Device(t))
	done := make(chan error, 1)
	go func() { done <- active.Connect(ctx, l.Addr().String(), ep.qp, params) }()
	passive, err := l.GetConnectionRequest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { passive.Close() })
	return active, ep, passive, done
}

// accept accepts passive's request with params and a fresh endpoint on its
// device in the background, and returns the endpoint and Accept's result.
func accept(t *testing.T, passive *rdmacm.Connector, params *rdmacm.ConnParams) (*endpoint, chan error) {
	t.Helper()
	ctx := testContext(t)
	ep := newEndpoint(t, passive.DeviceName())
	accepted := make(chan error, 1)
	go func() { accepted <- passive.Accept(ctx, ep.qp, params) }()
	return ep, accepted
}

// establish connects a fresh connector to l with default parameters and
// accepts it, and returns both sides once the connection is up.
func establish(t *testing.T, l *rdmacm.Listener) (active, passive *rdmacm.Connector) {
	t.Helper()
	active, _, passive = establishEP(t, l)
	return active, passive
}

// establishEP is establish, also returning the active side's endpoint.
func establishEP(t *testing.T, l *rdmacm.Listener) (active *rdmacm.Connector, ep *endpoint, passive *rdmacm.Connector) {
	t.Helper()
	active, ep, passive, done := request(t, l, nil)
	_, accepted := accept(t, passive, nil)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := active.CompleteConnect(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if err := <-accepted; err != nil {
		t.Fatal(err)
	}
	return active, ep, passive
}

// needTwoPhase stops t, as a transport limitation, on an iWARP device: the
// connection is complete when Connect returns, with no step between.
func needTwoPhase(t *testing.T, why string) {
	t.Helper()
	if testbed.IWARP(t) {
		testbed.Limitation(t, "%s is iWARP, which completes the connection in Connect: %s", testbed.Device(t), why)
	}
}
