package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime/trace"
	"slices"
	"sync"
	"time"

	"github.com/go-rdma/rdma/rdmacm"
	"github.com/go-rdma/rdma/verbs"
)

// cmConn is one cmtime connection.
type cmConn struct {
	cm *rdmacm.Connector
	qp *verbs.QP
}

// cmShared are the objects cmtime's connections share: librdmacm's
// per-device protection domain, which rdma_create_qp uses, and the send
// and receive CQs of the first QP. cmtime passes one static
// ibv_qp_init_attr without CQs to every rdma_create_qp, which makes CQs
// for the first QP and writes them back into that attr (librdmacm copies
// its attributes back), so that every later QP shares them: only the first
// connection's create qp step makes CQs, in C cmtime's client and server.
type cmShared struct {
	ctx *verbs.Context
	pd  *verbs.PD

	mu             sync.Mutex
	sendCQ, recvCQ *verbs.CQ
}

func openShared(device string) (*cmShared, error) {
	ctx, err := verbs.Open(device)
	if err != nil {
		return nil, err
	}
	pd, err := ctx.AllocPD()
	if err != nil {
		ctx.Close()
		return nil, err
	}
	return &cmShared{ctx: ctx, pd: pd}, nil
}

// close closes the shared objects, once the connections' QPs are closed.
func (s *cmShared) close() error {
	var errs []error
	for _, cq := range []*verbs.CQ{s.sendCQ, s.recvCQ} {
		if cq != nil {
			errs = append(errs, cq.Close())
		}
	}
	return errors.Join(append(errs, s.pd.Close(), s.ctx.Close())...)
}

// cqs returns the shared CQs, made by the first call: one entry each, as
// cmtime's QP of one send and one receive asks for.
func (s *cmShared) cqs() (send, recv *verbs.CQ, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sendCQ == nil {
		if s.sendCQ, err = s.ctx.CreateCQ(1, nil); err != nil {
			return nil, nil, err
		}
	}
	if s.recvCQ == nil {
		if s.recvCQ, err = s.ctx.CreateCQ(1, nil); err != nil {
			return nil, nil, err
		}
	}
	return s.sendCQ, s.recvCQ, nil
}

// createQP makes the connection's QP as cmtime's rdma_create_qp does: a
// small RC QP on the shared PD and CQs, moved to INIT.
func (s *cmShared) createQP(c *cmConn) error {
	send, recv, err := s.cqs()
	if err != nil {
		return err
	}
	c.qp, err = s.pd.CreateQP(&verbs.QPInitAttr{Type: verbs.QPTypeRC, SendCQ: send, RecvCQ: recv,
		Cap: verbs.QPCap{MaxSendWR: 1, MaxRecvWR: 1, MaxSendSGE: 1, MaxRecvSGE: 1}})
	if err != nil {
		return err
	}
	return c.cm.InitQP(c.qp)
}

// destroy closes the QP and the connector, those still open.
func (c *cmConn) destroy() error {
	var errs []error
	if c.qp != nil {
		errs = append(errs, c.qp.Close())
	}
	if c.cm != nil {
		errs = append(errs, c.cm.Close())
	}
	*c = cmConn{}
	return errors.Join(errs...)
}

// stepTimer times one step over all connections.
type stepTimer struct {
	name       string
	start      time.Time
	took       []time.Duration // each connection's time in the step
	total      time.Duration
	mu         sync.Mutex
	firstError error
}

// each runs f for every connection, concurrently or one after the other,
// and records the step. One after the other, the loop yields through y:
// its calls into C follow each other without a pause for as long as the
// step lasts, like a busy loop's. A connection's time takes two reads of
// the monotonic clock, as cmtime's takes two gettimeofday.
func (t *stepTimer) each(n int, concurrent bool, f func(i int) error, y *yielder) error {
	t.took = make([]time.Duration, n)
	t.start = time.Now()
	one := func(i int) {
		s := time.Since(t.start)
		err := f(i)
		t.took[i] = time.Since(t.start) - s
		if err != nil {
			t.mu.Lock()
			if t.firstError == nil {
				t.firstError = fmt.Errorf("%s, connection %d: %w", t.name, i, err)
			}
			t.mu.Unlock()
		}
	}
	if concurrent {
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { one(i) })
		}
		wg.Wait()
	} else {
		for i := range n {
			one(i)
			y.at(cycles())
		}
	}
	t.total = time.Since(t.start)
	return t.firstError
}

// result summarises the step as cmtime does, with the median connection's
// time besides (cmtime prints the fastest and the slowest only).
func (t *stepTimer) result() cmStep {
	took := slices.Clone(t.took)
	slices.Sort(took)
	n := len(took)
	return cmStep{Step: t.name, TotalMS: float64(t.total) / 1e6, MaxMS: float64(took[n-1]) / 1e6,
		MinUS: float64(took[0]) / 1e3, USConn: float64(t.total) / 1e3 / float64(n), MedianUS: float64(median(took)) / 1e3}
}

// cmtime makes one pass of n connections to addr (of the passes the
// server is told to serve) step by step, like rdmacm-utils cmtime: every
// connection finishes a step before the next step starts;
// the asynchronous steps (resolve, connect, disconnect) run for all
// connections at once. rdmacm resolves the address and the route in one
// call, so they are one step here.
//
// What C cmtime does before its first step is done here before timing too:
// librdmacm's event channel (rdma_create_event_channel) is made by a first
// connector kept for the run. Opening the device for verbs, once per
// process in any program, is not timed either: it happens between the
// resolve and create qp steps (C's rdma_create_qp uses librdmacm's). The
// disconnect step closes each connection's QP once it is disconnected, as
// C's calls rdma_destroy_qp after rdma_disconnect; the destroy step is
// rdma_destroy_id, as in C; the CQs, which C cmtime leaves to the end of
// the process, are closed after the steps.
func cmtime(ctx context.Context, addr, bind string, n, passes int, y *yielder) (cmResult, error) {
	conns := make([]cmConn, n)
	var shared *cmShared
	defer func() {
		for i := range conns {
			conns[i].destroy()
		}
		if shared != nil {
			shared.close()
		}
	}()
	warm, err := rdmacm.NewConnector()
	if err != nil {
		return cmResult{}, err
	}
	defer warm.Close()
	priv := (&request{mode: modeCMTime, sizes: []int{1}, iters: passes, conns: n}).marshal()
	steps := []struct {
		name       string
		concurrent bool
		f          func(i int) error
	}{
		{"create id", false, func(i int) (err error) {
			conns[i].cm, err = rdmacm.NewConnector()
			return err
		}},
		{"bind addr", false, func(i int) error {
			if bind == "" {
				return nil
			}
			return conns[i].cm.Bind(net.JoinHostPort(bind, "0"))
		}},
		{"resolve addr+route", true, func(i int) error { return conns[i].cm.Resolve(ctx, addr) }},
		{"create qp", false, func(i int) error { return shared.createQP(&conns[i]) }},
		{"connect", true, func(i int) error {
			c := &conns[i]
			p := &rdmacm.ConnParams{InboundReadLimit: 1, OutboundReadLimit: 1, PrivateData: priv}
			if err := c.cm.Connect(ctx, "", c.qp, p); err != nil {
				return err
			}
			return c.cm.CompleteConnect(ctx)
		}},
		{"disconnect", true, func(i int) error {
			c := &conns[i]
			err := errors.Join(c.cm.Disconnect(ctx), c.qp.Close())
			c.qp = nil
			return err
		}},
		{"destroy", false, func(i int) error {
			err := conns[i].cm.Close()
			conns[i].cm = nil
			return err
		}},
	}
	res := cmResult{Mode: modeCMTime, Conns: n}
	for _, s := range steps {
		if s.name == "create qp" {
			if shared, err = openShared(conns[0].cm.DeviceName()); err != nil {
				return res, err
			}
		}
		t := &stepTimer{name: s.name}
		region := trace.StartRegion(ctx, s.name)
		err := t.each(n, s.concurrent, s.f, y)
		region.End()
		if err != nil {
			return res, err
		}
		if s.name == "bind addr" && bind == "" {
			continue
		}
		res.Steps = append(res.Steps, t.result())
	}
	return res, nil
}

// serveCMTime accepts one pass of cmtime's n connections (first the one
// already requested), making their verbs objects on shared, and returns
// once all of them have been disconnected.
func serveCMTime(ctx context.Context, l *rdmacm.Listener, first *rdmacm.Connector, n int, shared *cmShared) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	handle := func(cm *rdmacm.Connector) {
		c := &cmConn{cm: cm}
		err := func() error {
			if d, err := cm.ConnectionData(); err != nil {
				return err
			} else if r, err := unmarshalRequest(d.PrivateData); err != nil || r.mode != modeCMTime {
				cm.Reject(nil)
				return fmt.Errorf("a request of the pass is not cmtime's: %v", err)
			}
			if err := shared.createQP(c); err != nil {
				cm.Reject(nil)
				return err
			}
			p := &rdmacm.ConnParams{InboundReadLimit: 1, OutboundReadLimit: 1, PrivateData: reply(0, 0)}
			if err := cm.Accept(ctx, c.qp, p); err != nil {
				return err
			}
			select {
			case <-cm.Disconnected():
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}()
		mu.Lock()
		errs = append(errs, err, c.destroy())
		mu.Unlock()
	}
	wg.Go(func() { handle(first) })
	for i := 1; i < n; i++ {
		// A client that stops in the middle of a pass sends no more.
		rctx, cancel := context.WithTimeout(ctx, cmRequestWait)
		cm, err := l.GetConnectionRequest(rctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				err = fmt.Errorf("no connection request for %v after %d of %d: %w", cmRequestWait, i, n, err)
			}
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
			break
		}
		wg.Go(func() { handle(cm) })
	}
	wg.Wait()
	return firstError(errs)
}

// cmRequestWait is how long the cmtime server waits for each further
// connection request of a pass.
const cmRequestWait = 30 * time.Second

// firstError returns the first error of errs, with the count of the others.
func firstError(errs []error) error {
	var first error
	more := 0
	for _, err := range errs {
		switch {
		case err == nil:
		case first == nil:
			first = err
		default:
			more++
		}
	}
	if more > 0 {
		return fmt.Errorf("%w (and %d more errors)", first, more)
	}
	return first
}
