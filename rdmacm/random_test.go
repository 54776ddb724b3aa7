package rdmacm_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-rdma/rdma/internal/testbed"
	"github.com/go-rdma/rdma/rdmacm"
	"github.com/go-rdma/rdma/verbs"
)

// TestRandomConnections runs connection cycles in which both sides pick
// their steps at random: the client's private data (up to a few bytes over
// the limit), then, once Connect returns, CompleteConnect, Reject (IB and
// RoCE), Disconnect or Close; the server's Accept or Reject, with private
// data of its own (also over the limit at times), or a Close of the request
// unanswered; and at times a Close of either side's connector from another
// goroutine in the middle. Every call returns nil or a typed error; private
// data over the limit is refused (ErrPrivateDataTooLong); what one side
// sent is what the other reads (request, accept and reject data) unless a
// Close cut in; and afterwards the process holds no more descriptors,
// goroutines or RDMA resources than before. RDMA_TEST_SEED replays a run's
// choices (not its timing).
func TestRandomConnections(t *testing.T) {
	rng := rand.New(rand.NewPCG(testbed.Seed(t), 1))
	e := newEndpoint(t, testbed.Device(t))
	iwarp := testbed.IWARP(t)
	// A first connection puts what lives as long as the process
	// (librdmacm's device context, the runtime's threads) in the baseline.
	c, _ := establish(t, listen(t, 1))
	c.Close()
	base := settle(t, measure(t))
	for cycle := range 40 {
		start := time.Now()
		steps, err := randomCycle(t, rng, e, iwarp)
		if err != nil {
			t.Fatalf("cycle %d (%s): %v", cycle, steps, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Logf("cycle %d took %v: %s", cycle, d, steps)
		}
	}
	settle(t, base)
}

// typed reports whether err is nil or one of the package's errors.
func typed(err error) bool {
	var oe *rdmacm.OpError
	var re *rdmacm.RejectError
	return err == nil || errors.As(err, &oe) || errors.As(err, &re)
}

// randomData returns up to limit+8 random bytes.
func randomData(rng *rand.Rand, limit int) []byte {
	b := make([]byte, rng.IntN(limit+9))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// answer is the server's answer to a request: the private data of its
// Accept or Reject.
type answer struct {
	data   []byte
	reject bool
}

// serverResult is how the server's side of a cycle ended: err from a call,
// fail from a check of its own.
type serverResult struct {
	err, fail error
}

// randomCycle runs one connection on a listener of its own (closed at the
// end, refusing whatever request is still queued), QPs from e's PD.
func randomCycle(t *testing.T, rng *rand.Rand, e *endpoint, iwarp bool) (string, error) {
	var mu sync.Mutex
	var log []string
	step := func(format string, args ...any) {
		mu.Lock()
		log = append(log, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	// The steps so far: the server's goroutine may still be adding some.
	steps := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(log, "; ")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := rdmacm.Listen(net.JoinHostPort(testbed.Addr(t), "0"), 4)
	if err != nil {
		return steps(), err
	}
	defer l.Close()
	c, err := rdmacm.NewConnector()
	if err != nil {
		return steps(), err
	}
	defer c.Close()
	newQP := func() (*verbs.QP, error) {
		return e.pd.CreateQP(&verbs.QPInitAttr{Type: verbs.QPTypeRC, SendCQ: e.cq, RecvCQ: e.cq,
			Cap: verbs.QPCap{MaxSendWR: 1, MaxRecvWR: 1, MaxSendSGE: 1, MaxRecvSGE: 1}})
	}
	qp, err := newQP()
	if err != nil {
		return steps(), err
	}
	defer qp.Close()
	if err := c.Resolve(ctx, l.Addr().String()); err != nil {
		return steps(), err
	}
	hello := randomData(rng, c.MaxPrivateData(rdmacm.MsgConnect, false))
	tooLong := len(hello) > c.MaxPrivateData(rdmacm.MsgConnect, false)
	clientCloses, serverCloses := rng.IntN(6) == 0, rng.IntN(6) == 0
	step("request %d bytes, client closes %v, server closes %v", len(hello), clientCloses, serverCloses)
	srng := rand.New(rand.NewPCG(rng.Uint64(), 2))
	closeAfter := func(delay int, close func() error) {
		time.AfterFunc(time.Duration(delay)*time.Millisecond, func() { close() })
	}

	answers := make(chan answer, 1)
	served := make(chan serverResult, 1)
	go func() {
		var r serverResult
		defer func() { served <- r }()
		req, err := l.GetConnectionRequest(ctx)
		if err != nil {
			r.err = err
			return
		}
		defer req.Close()
		if data, err := req.ConnectionData(); err != nil || !bytes.Equal(data.PrivateData, hello) {
			r.fail = fmt.Errorf("request's private data %x, %v; the client sent %x", data.PrivateData, err, hello)
			return
		}
		if serverCloses {
			closeAfter(srng.IntN(30), req.Close)
		}
		switch srng.IntN(3) {
		case 0:
			sqp, err := newQP()
			if err != nil {
				r.err = err
				return
			}
			defer sqp.Close()
			a := answer{data: randomData(srng, req.MaxPrivateData(rdmacm.MsgAccept, false))}
			answers <- a
			r.err = req.Accept(ctx, sqp, &rdmacm.ConnParams{PrivateData: a.data})
			step("server Accept(%d bytes): %v", len(a.data), r.err)
			if len(a.data) > req.MaxPrivateData(rdmacm.MsgAccept, false) && !serverCloses && !errors.Is(r.err, rdmacm.ErrPrivateDataTooLong) {
				r.fail = fmt.Errorf("Accept with %d bytes of private data: %v, want ErrPrivateDataTooLong", len(a.data), r.err)
				return
			}
			if r.err == nil {
				select {
				case <-req.Disconnected():
				case <-ctx.Done():
				}
			}
		case 1:
			a := answer{data: randomData(srng, req.MaxPrivateData(rdmacm.MsgReject, false)), reject: true}
			answers <- a
			r.err = req.Reject(a.data)
			step("server Reject(%d bytes): %v", len(a.data), r.err)
			if len(a.data) > req.MaxPrivateData(rdmacm.MsgReject, false) && !serverCloses && !errors.Is(r.err, rdmacm.ErrPrivateDataTooLong) {
				r.fail = fmt.Errorf("Reject with %d bytes of private data: %v, want ErrPrivateDataTooLong", len(a.data), r.err)
			}
		default:
			answers <- answer{} // none: the deferred Close refuses the request
			step("server closes the request")
		}
	}()

	if clientCloses {
		closeAfter(rng.IntN(30), c.Close)
	}
	err = c.Connect(ctx, "", qp, &rdmacm.ConnParams{PrivateData: hello})
	step("Connect: %v", err)
	if !typed(err) {
		return steps(), fmt.Errorf("Connect: %v (%T)", err, err)
	}
	if tooLong && !clientCloses && !errors.Is(err, rdmacm.ErrPrivateDataTooLong) {
		return steps(), fmt.Errorf("Connect with %d bytes of private data: %v, want ErrPrivateDataTooLong", len(hello), err)
	}
	if err != nil {
		// A request may not have gone out: the server waits for one
		// until the listener closes.
		l.Close()
	}
	var rej *rdmacm.RejectError
	switch {
	case err == nil:
		// The server's answer was an accept, within the limit.
		var a answer
		select {
		case a = <-answers:
		case <-ctx.Done():
			return steps(), fmt.Errorf("Connect succeeded without an answer from the server")
		}
		if data, err := c.ConnectionData(); !serverCloses && !clientCloses && (a.reject || err != nil || !bytes.Equal(data.PrivateData, a.data)) {
			return steps(), fmt.Errorf("accept's private data %x, %v; the server answered %+v", data.PrivateData, err, a)
		}
		n := rng.IntN(4)
		switch {
		case n == 0 && !iwarp:
			err = c.Reject(randomData(rng, c.MaxPrivateData(rdmacm.MsgReject, false)))
		case n == 1:
			err = c.Disconnect(ctx)
		case n == 2:
			err = c.Close()
		default:
			if err = c.CompleteConnect(ctx); err == nil {
				err = c.Disconnect(ctx)
			}
		}
		step("client step %d: %v", n, err)
		if !typed(err) {
			return steps(), fmt.Errorf("after Connect: %v (%T)", err, err)
		}
	case errors.As(err, &rej) && rej.ConsumerReject() && !serverCloses:
		// A Reject within the limit sends its data; a refused answer, or
		// none, ends with the request's Close, which refuses the client.
		select {
		case a := <-answers:
			if a.reject && len(a.data) <= c.MaxPrivateData(rdmacm.MsgReject, false) && !bytes.Equal(rej.PrivateData, a.data) {
				return steps(), fmt.Errorf("refused with private data %x; the server rejected with %x", rej.PrivateData, a.data)
			}
		case <-ctx.Done():
		}
	}
	c.Close()
	r := <-served
	switch {
	case r.fail != nil:
		return steps(), fmt.Errorf("server: %w", r.fail)
	case !typed(r.err):
		return steps(), fmt.Errorf("server: %v (%T)", r.err, r.err)
	}
	return steps(), nil
}
