package rdmacm_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/go-rdma/rdma/internal/testbed"
	"github.com/go-rdma/rdma/rdmacm"
	"github.com/go-rdma/rdma/verbs"
)

// benchQP is a CQ and the smallest RC QP on pd, a connection's own, as the
// C loop BenchmarkConnect is compared with (BENCHMARKS.md) makes them.
type benchQP struct {
	cq *verbs.CQ
	qp *verbs.QP
}

func newBenchQP(pd *verbs.PD) (benchQP, error) {
	cq, err := pd.Context().CreateCQ(2, nil)
	if err != nil {
		return benchQP{}, err
	}
	qp, err := pd.CreateQP(&verbs.QPInitAttr{Type: verbs.QPTypeRC, SendCQ: cq, RecvCQ: cq,
		Cap: verbs.QPCap{MaxSendWR: 1, MaxRecvWR: 1, MaxSendSGE: 1, MaxRecvSGE: 1}})
	if err != nil {
		cq.Close()
		return benchQP{}, err
	}
	return benchQP{cq: cq, qp: qp}, nil
}

func (q benchQP) close() error { return errors.Join(q.qp.Close(), q.cq.Close()) }

// BenchmarkConnect measures one whole connection through the device under
// test, both sides in this process, as cmtime's steps make it: create the
// identifier, resolve, create the QPs, connect and accept, disconnect,
// destroy. Its allocations are both sides' together.
func BenchmarkConnect(b *testing.B) {
	addr := testbed.Addr(b)
	vctx, err := verbs.Open(testbed.Device(b))
	if err != nil {
		b.Fatal(err)
	}
	defer vctx.Close()
	pd, err := vctx.AllocPD()
	if err != nil {
		b.Fatal(err)
	}
	defer pd.Close()
	l, err := rdmacm.Listen(net.JoinHostPort(addr, "0"), 8)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	raddr := l.Addr().String()
	params := &rdmacm.ConnParams{InboundReadLimit: 1, OutboundReadLimit: 1}
	accepted := make(chan error, 1)
	serve := func() {
		c, err := l.GetConnectionRequest(ctx)
		if err != nil {
			accepted <- err
			return
		}
		q, err := newBenchQP(pd)
		if err == nil {
			if err = c.Accept(ctx, q.qp, params); err == nil {
				<-c.Disconnected()
			}
			err = errors.Join(err, q.close())
		}
		accepted <- errors.Join(err, c.Close())
	}
	connect := func() error {
		c, err := rdmacm.NewConnector()
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.Resolve(ctx, raddr); err != nil {
			return err
		}
		q, err := newBenchQP(pd)
		if err != nil {
			return err
		}
		defer q.close()
		if err := c.Connect(ctx, "", q.qp, params); err != nil {
			return err
		}
		if err := c.CompleteConnect(ctx); err != nil {
			return err
		}
		return c.Disconnect(ctx)
	}
	b.ReportAllocs()
	for b.Loop() {
		go serve()
		if err := connect(); err != nil {
			b.Fatal(err)
		}
		if err := <-accepted; err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateID measures an active connector's life without a
// connection: NewConnector (rdma_create_id on the shared event channel) and
// Close (rdma_destroy_id), cmtime's create id and destroy steps. A first
// connector, before the loop, pays the process's first use of librdmacm
// (it opens every device) and makes the channel, which then lingers from
// one connector to the next.
func BenchmarkCreateID(b *testing.B) {
	testbed.Device(b)
	first, err := rdmacm.NewConnector()
	if err != nil {
		b.Fatal(err)
	}
	if err := first.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		c, err := rdmacm.NewConnector()
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
