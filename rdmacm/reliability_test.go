package rdmacm_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-rdma/rdma/internal/testbed"
	"github.com/go-rdma/rdma/rdmacm"
	"github.com/go-rdma/rdma/verbs"
)

// cycles returns short, or long when RDMA_LONG=1 asks for the long variants.
func cycles(short, long int) int {
	if os.Getenv("RDMA_LONG") == "1" {
		return long
	}
	return short
}

// usage is what a process holds: open descriptors, goroutines and the
// kernel's RDMA resources (rdma resource show) summed over all devices.
type usage struct {
	FDs, Goroutines           int
	CMIDs, QPs, CQs, MRs, PDs int
	Contexts                  int
}

func (u usage) String() string {
	return fmt.Sprintf("fds %d goroutines %d cm_id %d qp %d cq %d mr %d pd %d ctx %d",
		u.FDs, u.Goroutines, u.CMIDs, u.QPs, u.CQs, u.MRs, u.PDs, u.Contexts)
}

func measure(t *testing.T) usage {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("rdma", "-j", "resource", "show").Output()
	if err != nil {
		t.Fatalf("rdma -j resource show: %v", err)
	}
	var devs []map[string]any
	if err := json.Unmarshal(out, &devs); err != nil {
		t.Fatalf("rdma -j resource show: %v in %s", err, out)
	}
	u := usage{FDs: len(fds) - 1, Goroutines: runtime.NumGoroutine()} // less ReadDir's own
	for _, d := range devs {
		for key, n := range map[string]*int{"cm_id": &u.CMIDs, "qp": &u.QPs, "cq": &u.CQs, "mr": &u.MRs, "pd": &u.PDs, "ctx": &u.Contexts} {
			if v, ok := d[key].(float64); ok {
				*n += int(v)
			}
		}
	}
	return u
}

// within reports whether no count of u exceeds base's.
func (u usage) within(base usage) bool {
	return u.FDs <= base.FDs && u.Goroutines <= base.Goroutines && u.CMIDs <= base.CMIDs && u.QPs <= base.QPs &&
		u.CQs <= base.CQs && u.MRs <= base.MRs && u.PDs <= base.PDs && u.Contexts <= base.Contexts
}

// settle waits (up to 10 s) for the usage to come back to base (or below:
// a channel closed just before the baseline may still have been going
// away) and fails the test with both when it does not.
func settle(t *testing.T, base usage) usage {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		now := measure(t)
		if now.within(base) {
			return now
		}
		if time.Now().After(deadline) {
			t.Fatalf("resources not back to the baseline:\nbefore %v\nafter  %v", base, now)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLeakReject runs connect→reject cycles against one listener (200, or
// 10,000 with RDMA_LONG=1); each makes and closes a QP and two connectors.
func TestLeakReject(t *testing.T) {
	ctx := testContext(t)
	n := cycles(200, 10000)
	if n > 1000 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.Background(), 50*time.Minute)
		defer cancel()
	}
	l := listen(t, 4)
	e := newEndpoint(t, testbed.Device(t))
	data := []byte("no")
	long := ctx
	cycle := func() error {
		// Each cycle bounded on its own: a stuck one fails in seconds.
		ctx, cancel := context.WithTimeout(long, 20*time.Second)
		defer cancel()
		c, err := rdmacm.NewConnector()
		if err != nil {
			return err
		}
		defer c.Close()
		qp, err := e.pd.CreateQP(&verbs.QPInitAttr{Type: verbs.QPTypeRC, SendCQ: e.cq, RecvCQ: e.cq,
			Cap: verbs.QPCap{MaxSendWR: 1, MaxRecvWR: 1, MaxSendSGE: 1, MaxRecvSGE: 1}})
		if err != nil {
			return err
		}
		defer qp.Close()
		done := make(chan error, 1)
		go func() { done <- c.Connect(ctx, l.Addr().String(), qp, nil) }()
		p, err := l.GetConnectionRequest(ctx)
		if err != nil {
			return err
		}
		defer p.Close()
		if err := p.Reject(data); err != nil {
			return err
		}
		var rej *rdmacm.RejectError
		if err := <-done; !errors.As(err, &rej) || string(rej.PrivateData) != "no" {
			return fmt.Errorf("connect: %v, want a refusal with %q", err, data)
		}
		return nil
	}
	// One cycle first, so that lazily made state (the listener's device
	// binding, the runtime's threads) is in the baseline.
	if err := cycle(); err != nil {
		t.Fatal(err)
	}
	base := settle(t, measure(t))
	start := time.Now()
	for i := 0; i < n; i++ {
		if err := cycle(); err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
	}
	d := time.Since(start)
	after := settle(t, base)
	t.Logf("%d connect→reject cycles in %v (%v each); before and after: %v", n, d.Round(time.Millisecond), (d / time.Duration(n)).Round(time.Microsecond), after)
}

// TestLeakAccept runs connect→accept→data→disconnect cycles with Dial and
// Listener.Accept (50, or 1,000 with RDMA_LONG=1): every cycle makes and
// closes both sides' device contexts, PDs, CQs, QPs, MRs and connectors.
func TestLeakAccept(t *testing.T) {
	ctx := testContext(t)
	n := cycles(50, 1000)
	if n > 100 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.Background(), 50*time.Minute)
		defer cancel()
	}
	l := listen(t, 4)
	const size = 64
	recv := &rdmacm.EndpointOptions{BufferSize: 4096, BeforeConnect: func(e *rdmacm.Endpoint) error {
		return e.QP.PostRecv([]verbs.RecvWR{{ID: 1, SGL: []verbs.SGE{e.MR.SGE(0, size)}}})
	}}
	long := ctx
	cycle := func(i int) error {
		// Each cycle bounded on its own: a stuck one fails in seconds.
		ctx, cancel := context.WithTimeout(long, 20*time.Second)
		defer cancel()
		accepted := make(chan *rdmacm.Endpoint, 1)
		acceptErr := make(chan error, 1)
		go func() {
			e, err := l.Accept(ctx, recv)
			acceptErr <- err
			accepted <- e
		}()
		a, err := rdmacm.Dial(ctx, l.Addr().String(), &rdmacm.EndpointOptions{BufferSize: 4096})
		if err != nil {
			<-acceptErr
			if p := <-accepted; p != nil {
				p.Close()
			}
			return err
		}
		defer a.Close()
		if err := <-acceptErr; err != nil {
			return err
		}
		p := <-accepted
		defer p.Close()
		msg := []byte(strconv.Itoa(i))
		copy(a.Buffer.Bytes(), msg)
		if err := a.QP.PostSend([]verbs.SendWR{{ID: 2, Opcode: verbs.WRSend, Flags: verbs.SendSignaled, SGL: []verbs.SGE{a.MR.SGE(0, len(msg))}}}); err != nil {
			return err
		}
		wcs := make([]verbs.WorkCompletion, 1)
		for _, e := range []*rdmacm.Endpoint{a, p} {
			if _, err := e.CQ.PollWait(ctx, wcs); err != nil {
				return err
			}
			if err := wcs[0].Err(); err != nil {
				return err
			}
		}
		if got := string(p.Buffer.Bytes()[:wcs[0].ByteLen]); got != string(msg) {
			return fmt.Errorf("received %q, sent %q", got, msg)
		}
		if err := a.Disconnect(ctx); err != nil {
			return err
		}
		select {
		case <-p.Disconnected():
		case <-ctx.Done():
			return fmt.Errorf("passive side never saw the disconnect: %w", ctx.Err())
		}
		return nil
	}
	if err := cycle(-1); err != nil {
		t.Fatal(err)
	}
	base := settle(t, measure(t))
	start := time.Now()
	for i := 0; i < n; i++ {
		if err := cycle(i); err != nil {
			t.Fatalf("cycle %d: %v", i, err)
		}
	}
	d := time.Since(start)
	after := settle(t, base)
	t.Logf("%d connect→accept→send→disconnect cycles in %v (%v each); before and after: %v", n, d.Round(time.Millisecond), (d / time.Duration(n)).Round(time.Microsecond), after)
}

// TestConcurrentConnects sends 256 connection requests at once to a
// listener with a backlog of 8 whose acceptor accepts every eighth request
// it takes and rejects the others: every attempt ends at once, accepted or
// refused with a *RejectError (by the acceptor, or by the listener over its
// backlog); and the listener still works.
func TestConcurrentConnects(t *testing.T) {
	const n, backlog = 256, 8
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l := listen(t, backlog)
	// QPs come from a fresh device context every 32: siw refuses (EIO)
	// the 72nd QP of one context.
	type device struct {
		ctx *verbs.Context
		pd  *verbs.PD
		cq  *verbs.CQ
	}
	var devs []device
	defer func() {
		for _, d := range devs {
			d.cq.Close()
			d.pd.Close()
			d.ctx.Close()
		}
	}()
	made := 0
	newQP := func() *verbs.QP {
		if made%32 == 0 {
			var d device
			var err error
			if d.ctx, err = verbs.Open(testbed.Device(t)); err != nil {
				t.Fatal(err)
			}
			if d.pd, err = d.ctx.AllocPD(); err != nil {
				t.Fatal(err)
			}
			if d.cq, err = d.ctx.CreateCQ(16, nil); err != nil {
				t.Fatal(err)
			}
			devs = append(devs, d)
		}
		d := devs[len(devs)-1]
		qp, err := d.pd.CreateQP(&verbs.QPInitAttr{Type: verbs.QPTypeRC, SendCQ: d.cq, RecvCQ: d.cq,
			Cap: verbs.QPCap{MaxSendWR: 1, MaxRecvWR: 1, MaxSendSGE: 1, MaxRecvSGE: 1}})
		if err != nil {
			t.Fatalf("QP %d: %v", made, err)
		}
		made++
		return qp
	}
	var qps, pqps []*verbs.QP // the connectors' and the acceptor's
	defer func() {
		for _, qp := range append(qps, pqps...) {
			qp.Close()
		}
	}()

	// The acceptor: until every attempt has ended, it answers each request
	// on a goroutine of its own, so that one slow handshake delays no other
	// request in the queue (its requester would give up meanwhile).
	stop := make(chan struct{})
	// A failed answer, with its peer's address to find what the peer saw.
	type answerError struct {
		err  error
		peer string
	}
	var (
		mu                 sync.Mutex
		accepted, rejected int
		passives           []*rdmacm.Connector
		answerErrs         []answerError
		answers            sync.WaitGroup
	)
	start := time.Now()
	acceptor := make(chan []answerError, 1)
	answer := func(i int, p *rdmacm.Connector) {
		taken := time.Since(start)
		var err error
		if i%8 == 0 {
			mu.Lock()
			qp := newQP()
			pqps = append(pqps, qp)
			mu.Unlock()
			err = p.Accept(ctx, qp, nil)
		} else if err = p.Reject([]byte("busy")); errors.Is(err, rdmacm.ErrConnectionAborted) {
			err = nil
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil:
			answerErrs = append(answerErrs, answerError{
				fmt.Errorf("answer to request %d (taken %v into the storm) failed after %v: %w",
					i, taken.Round(time.Millisecond), (time.Since(start) - taken).Round(time.Millisecond), err),
				p.PeerAddr().String()})
		case i%8 == 0:
			accepted++
		default:
			rejected++
		}
	}
	go func() {
		for i := 0; ; i++ {
			var p *rdmacm.Connector
			select {
			case p = <-l.Requests():
			case <-stop:
				answers.Wait()
				acceptor <- answerErrs
				return
			}
			mu.Lock()
			passives = append(passives, p)
			mu.Unlock()
			answers.Go(func() { answer(i, p) })
		}
	}()

	type result struct {
		err     error
		refusal *rdmacm.RejectError
		took    time.Duration
		local   string
	}
	results := make(chan result, n)
	conns := make([]*rdmacm.Connector, n)
	cqps := make([]*verbs.QP, n)
	for i := range conns {
		conns[i] = newConnector(t)
		cqps[i] = newQP()
	}
	qps = append(qps, cqps...)
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			begin := time.Now()
			err := c.Connect(ctx, l.Addr().String(), cqps[i], nil)
			if err == nil {
				err = c.CompleteConnect(ctx)
			}
			var rej *rdmacm.RejectError
			errors.As(err, &rej)
			results <- result{err, rej, time.Since(begin), c.LocalAddr().String()}
		}()
	}
	wg.Wait()
	close(stop)
	failedAnswers := <-acceptor
	close(results)
	var ok, consumer, stack, timeWait int
	var longest time.Duration
	byAddr := map[string]result{}
	iwarp := conns[0].Transport() == verbs.TransportIWARP
	for r := range results {
		byAddr[r.local] = r
		longest = max(longest, r.took)
		switch {
		case r.err == nil:
			ok++
		case r.refusal != nil && errors.Is(r.err, rdmacm.ErrConnectionRefused):
			if string(r.refusal.PrivateData) == "busy" {
				consumer++
			} else {
				stack++
			}
		case iwarp && errors.Is(r.err, syscall.EADDRNOTAVAIL):
			// siw connects through the kernel's TCP: the random port
			// rdma_cm gave the connector can meet a socket of the same
			// addresses and ports in TIME_WAIT, and the kernel's connect
			// fails before anything reaches the listener (CI, 2026-12-01;
			// cmtime in bench17 too).
			timeWait++
		default:
			t.Errorf("connect from %s ended after %v with %v, want success or a refusal", r.local, r.took.Round(time.Millisecond), r.err)
		}
	}
	for _, a := range failedAnswers {
		peer, found := byAddr[a.peer]
		switch {
		case !found:
			t.Errorf("%v; its peer %s is not among the connectors", a.err, a.peer)
		case peer.err == nil:
			t.Errorf("%v; its peer %s connected after %v", a.err, a.peer, peer.took.Round(time.Millisecond))
		default:
			t.Errorf("%v; its peer %s ended after %v with %v", a.err, a.peer, peer.took.Round(time.Millisecond), peer.err)
		}
	}
	t.Logf("%d connects in %v (longest %v): %d accepted, %d rejected by the acceptor, %d refused over the backlog, %d failed on a port in TIME_WAIT (acceptor: %d accepted, %d rejected)",
		n, time.Since(start).Round(time.Millisecond), longest.Round(time.Millisecond), ok, consumer, stack, timeWait, accepted, rejected)
	if ok != accepted || consumer != rejected || ok+consumer+stack+timeWait != n {
		t.Errorf("outcomes do not add up")
	}
	// A request the stack drops instead of queueing or refusing it is sent
	// again by the peer's IB CM after its response timeout (4.3 s) or by
	// TCP after 1 s and more: the answer to every request is one round
	// trip away, so no attempt comes near that.
	if longest > 4*time.Second {
		t.Errorf("the longest connect took %v: a request was dropped unanswered", longest.Round(time.Millisecond))
	}
	if ok == 0 {
		t.Errorf("no connection was accepted")
	}
	for _, p := range passives {
		p.Close()
	}
	// Requests queued after the acceptor stopped: their peers gave up.
	for len(l.Requests()) > 0 {
		p := <-l.Requests()
		if err := p.Reject(nil); !errors.Is(err, rdmacm.ErrConnectionAborted) {
			t.Errorf("Reject of a request whose peer gave up: %v, want ErrConnectionAborted", err)
		}
		p.Close()
	}
	// The listener still takes requests. Once (CI, 2026-11-30), on siw, the
	// one connect made after a storm saw no request for 59 s, after a storm
	// connect had failed with ECONNRESET. siw hands each TCP connection that
	// reaches a listener to a work item from a pool as large as the backlog
	// (siw_create_listen); our reading is that a connection finding none in
	// a storm stays in the listening socket's queue, and that each later
	// connection's work item accepts the oldest one queued, so that a
	// connect after the storm can free an older connection instead of its
	// own. 12 storms in a row (and 6 with a backlog of 1) did not do it
	// again. On iWARP a connect whose request does not arrive within 3 s is
	// therefore given up and another made, up to backlog+1 in all; a request
	// from a connector given up is refused and skipped.
	attempts := 1
	if iwarp {
		attempts = backlog + 1
	}
	after := time.Now()
	for k := 1; ; k++ {
		if lastRequestAfterStorm(t, ctx, l, newConnector(t), newQP, &qps) {
			t.Logf("a request reached the listener %v after the storm, at connect %d", time.Since(after).Round(time.Millisecond), k)
			return
		}
		if k == attempts {
			t.Fatalf("no request in %d connects %v after the storm", k, time.Since(after).Round(time.Millisecond))
		}
	}
}

// lastRequestAfterStorm connects last to l and reports whether its request
// reached l within 3 s; it then refuses the request with private data and
// checks that last sees the refusal. Requests of other peers that arrive
// meanwhile are refused and skipped.
func lastRequestAfterStorm(t *testing.T, ctx context.Context, l *rdmacm.Listener, last *rdmacm.Connector,
	newQP func() *verbs.QP, qps *[]*verbs.QP) bool {
	t.Helper()
	qp := newQP()
	*qps = append(*qps, qp)
	actx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- last.Connect(actx, l.Addr().String(), qp, nil) }()
	for {
		passive, err := l.GetConnectionRequest(actx)
		if err != nil {
			cancel()
			t.Logf("connect after the storm: no request (%v); connect: %v", err, <-done)
			return false
		}
		mine := passive.PeerAddr().String() == last.LocalAddr().String()
		err = passive.Reject([]byte("after"))
		passive.Close()
		if !mine {
			t.Logf("a request from %s, a connector given up: Reject: %v", passive.PeerAddr(), err)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		refused(t, <-done, []byte("after"))
		return true
	}
}

// within fails the test unless f returns within d, and returns its error.
func within(t *testing.T, what string, d time.Duration, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("%s still blocked after %v", what, d)
		return nil
	}
}

// TestCloseUnblocks closes objects under calls blocked on them: each call
// returns ErrClosed promptly.
func TestCloseUnblocks(t *testing.T) {
	testbed.Device(t)
	ctx := testContext(t)
	block := func(t *testing.T, call func() error, closeFn func() error, want error) {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- call() }()
		time.Sleep(200 * time.Millisecond)
		select {
		case err := <-done:
			t.Fatalf("call returned before Close: %v", err)
		default:
		}
		closed := make(chan error, 1)
		go func() { closed <- closeFn() }()
		if err := within(t, "the blocked call", 2*time.Second, func() error { return <-done }); !errors.Is(err, want) {
			t.Errorf("blocked call: %v, want %v", err, want)
		}
		// On iWARP rdma_destroy_id waits for the MPA exchange (about 10 s).
		if err := within(t, "Close", 15*time.Second, func() error { return <-closed }); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	t.Run("GetConnectionRequest", func(t *testing.T) {
		l, err := rdmacm.Listen(l0(t), 1)
		if err != nil {
			t.Fatal(err)
		}
		block(t, func() error { _, err := l.GetConnectionRequest(ctx); return err }, l.Close, rdmacm.ErrClosed)
	})
	t.Run("Connect", func(t *testing.T) {
		l := listen(t, 1) // nobody takes the request
		c, err := rdmacm.NewConnector()
		if err != nil {
			t.Fatal(err)
		}
		e := newEndpoint(t, testbed.Device(t))
		block(t, func() error { return c.Connect(ctx, l.Addr().String(), e.qp, nil) }, c.Close, rdmacm.ErrClosed)
	})
	t.Run("Accept", func(t *testing.T) {
		// The requester's QP never leaves RESET on IB: no RTU comes back.
		l := listen(t, 1)
		probe := newConnector(t)
		if err := probe.Resolve(ctx, l.Addr().String()); err != nil {
			t.Fatal(err)
		}
		if probe.Transport() == verbs.TransportIWARP {
			testbed.Limitation(t, "iWARP: Connect completes the connection itself, so Accept never waits on the active side")
		}
		_, _, p, _ := request(t, l, nil)
		e := newEndpoint(t, testbed.Device(t))
		block(t, func() error { return p.Accept(ctx, e.qp, nil) }, p.Close, rdmacm.ErrClosed)
	})
	for _, name := range []string{"Wait", "PollWait"} {
		t.Run("CQ "+name, func(t *testing.T) {
			dev, err := verbs.Open(testbed.Device(t))
			if err != nil {
				t.Fatal(err)
			}
			defer dev.Close()
			cq, err := dev.CreateCQ(4, nil)
			if err != nil {
				t.Fatal(err)
			}
			call := func() error {
				if err := cq.Arm(false); err != nil {
					return err
				}
				return cq.Wait(ctx)
			}
			if name == "PollWait" {
				call = func() error { _, err := cq.PollWait(ctx, make([]verbs.WorkCompletion, 4)); return err }
			}
			block(t, call, cq.Close, verbs.ErrClosed)
		})
	}
}

// l0 is the device under test's address with port 0.
func l0(t *testing.T) string { return testbed.Addr(t) + ":0" }
