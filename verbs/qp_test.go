package verbs_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/go-rdma/rdma/internal/testbed"
	"github.com/go-rdma/rdma/rdmacm"
	"github.com/go-rdma/rdma/verbs"
)

// end is one side of a hand-connected pair: its own PD, CQ, QP and a
// registered buffer.
type end struct {
	pd  *verbs.PD
	cq  *verbs.CQ
	qp  *verbs.QP
	buf *verbs.Buffer
	mr  *verbs.MR
}

// endOpts shape an end; the zero value is an RC QP of 64 requests each way,
// up to 4 SGEs and 64 bytes inline.
type endOpts struct {
	typ       verbs.QPType
	batch     int
	signalAll bool
	srq       *verbs.SRQ
	pd        *verbs.PD // shared PD (the caller closes it); default: the end's own
}

func newEnd(t *testing.T, ctx *verbs.Context, size int) *end {
	t.Helper()
	return newEndWith(t, ctx, size, endOpts{})
}

func newEndWith(t *testing.T, ctx *verbs.Context, size int, o endOpts) *end {
	t.Helper()
	if o.typ == 0 {
		o.typ = verbs.QPTypeRC
	}
	dev, err := ctx.QueryDevice()
	if err != nil {
		t.Fatal(err)
	}
	e := &end{pd: o.pd}
	if e.pd == nil {
		if e.pd, err = ctx.AllocPD(); err != nil {
			t.Fatal(err)
		}
	}
	if e.cq, err = ctx.CreateCQ(256, nil); err != nil {
		t.Fatal(err)
	}
	sge := uint32(min(4, dev.MaxSGE))
	e.qp, err = e.pd.CreateQP(&verbs.QPInitAttr{
		Type: o.typ, SendCQ: e.cq, RecvCQ: e.cq, SRQ: o.srq, SignalAll: o.signalAll, Batch: o.batch,
		Cap: verbs.QPCap{MaxSendWR: 64, MaxRecvWR: 64, MaxSendSGE: sge, MaxRecvSGE: sge, MaxInlineData: 64},
	})
	if err != nil {
		t.Fatal(err)
	}
	if e.buf, err = verbs.NewBuffer(size, nil); err != nil {
		t.Fatal(err)
	}
	access := verbs.AccessLocalWrite | verbs.AccessRemoteWrite | verbs.AccessRemoteRead
	if dev.AtomicCap != verbs.AtomicNone {
		access |= verbs.AccessRemoteAtomic
	}
	if e.mr, err = e.pd.RegMR(e.buf, 0, 0, access); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		objs := []interface{ Close() error }{e.qp, e.mr, e.buf, e.cq}
		if o.pd == nil {
			objs = append(objs, e.pd)
		}
		for _, c := range objs {
			if err := c.Close(); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	return e
}

// isIWARP reports whether ctx's device is iWARP, as verbs.Devices reports
// its transport.
func isIWARP(t *testing.T, ctx *verbs.Context) bool {
	t.Helper()
	devs, err := verbs.Devices()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		if d.Name == ctx.Name() {
			return d.Transport == verbs.TransportIWARP
		}
	}
	t.Fatalf("%s is not among the devices", ctx.Name())
	return false
}

// testGID returns the GID the test device's QPs address each other with:
// the last valid entry of port 1 (the IPv4-mapped RoCE v2 GID on rxe).
func testGID(t *testing.T, ctx *verbs.Context) verbs.GIDEntry {
	t.Helper()
	table, err := ctx.GIDTable()
	if err != nil {
		t.Fatal(err)
	}
	if len(table) == 0 {
		t.Fatal("empty GID table")
	}
	return table[len(table)-1]
}

// connect brings the QPs of a and b to RTS against each other. It is the
// one connection step of the data-path tests: on IB and RoCE it connects RC
// or UC QPs by hand, as ibv_rc_pingpong does; on iWARP, whose QPs reach RTS
// only through the iWARP connection manager, it connects RC QPs through
// rdmacm on the device's address.
func connect(t *testing.T, ctx *verbs.Context, a, b *end) {
	t.Helper()
	if isIWARP(t, ctx) {
		// Established by the CM; siw_query_qp reports no QP state.
		connectCM(t, a, b)
		return
	}
	connectByHand(t, ctx, a, b)
	for _, e := range []*end{a, b} {
		if s, err := e.qp.State(); err != nil || s != verbs.QPStateRTS {
			t.Fatalf("QP %d state %v, %v", e.qp.Num(), s, err)
		}
	}
}

// connectCM connects a (active) to b (passive) through rdmacm, both on the
// device under test. Both connectors close, ending the connection, when the
// test ends, before the QPs do.
func connectCM(t *testing.T, a, b *end) {
	t.Helper()
	cctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := rdmacm.Listen(net.JoinHostPort(testbed.Addr(t), "0"), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	active, err := rdmacm.NewConnector()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { active.Close() })
	done := make(chan error, 1)
	go func() { done <- active.Connect(cctx, l.Addr().String(), a.qp, nil) }()
	passive, err := l.GetConnectionRequest(cctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { passive.Close() })
	if err := passive.Accept(cctx, b.qp, nil); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := active.CompleteConnect(cctx); err != nil {
		t.Fatal(err)
	}
}

// connectByHand moves the RC or UC QPs of a and b through INIT and RTR to
// RTS with each other's QP number, PSN and GID, exchanged in-process.
func connectByHand(t *testing.T, ctx *verbs.Context, a, b *end) {
	t.Helper()
	port, err := ctx.QueryPort(1)
	if err != nil {
		t.Fatal(err)
	}
	gid := testGID(t, ctx)
	for _, pair := range [][2]*end{{a, b}, {b, a}} {
		if err := bringUp(pair[0].qp, port.ActiveMTU, pair[1].qp.Num(), gid); err != nil {
			t.Fatal(err)
		}
	}
}

// bringUp takes qp, RC or UC, from RESET to RTS against QP number peer at
// the device's GID entry gid, with path MTU mtu, as ibv_rc_pingpong does.
func bringUp(qp *verbs.QP, mtu verbs.MTU, peer uint32, gid verbs.GIDEntry) error {
	rc := qp.Type() == verbs.QPTypeRC
	access := verbs.AccessLocalWrite | verbs.AccessRemoteWrite
	if rc {
		access |= verbs.AccessRemoteRead | verbs.AccessRemoteAtomic
	}
	init := verbs.QPAttr{State: int(verbs.QPStateInit), PortNum: 1, AccessFlags: int(access)}
	if err := qp.Modify(&init, verbs.QPAttrState|verbs.QPAttrPKeyIndex|verbs.QPAttrPort|verbs.QPAttrAccessFlags); err != nil {
		return err
	}
	rtr := verbs.QPAttr{State: int(verbs.QPStateRTR), PathMTU: mtu, DestQPNum: peer, RQPSN: 100,
		MaxDestRdAtomic: 1, MinRNRTimer: 12,
		AHAttr: verbs.AHAttr{IsGlobal: true, PortNum: 1, GRH: verbs.GlobalRoute{DGID: gid.GID, SGIDIndex: uint8(gid.Index), HopLimit: 64}}}
	mask := verbs.QPAttrState | verbs.QPAttrAV | verbs.QPAttrPathMTU | verbs.QPAttrDestQPN | verbs.QPAttrRQPSN
	if rc {
		mask |= verbs.QPAttrMaxDestRdAtomic | verbs.QPAttrMinRNRTimer
	}
	if err := qp.Modify(&rtr, mask); err != nil {
		return err
	}
	rts := verbs.QPAttr{State: int(verbs.QPStateRTS), SQPSN: 100, Timeout: 14, RetryCnt: 7, RNRRetry: 7, MaxRdAtomic: 1}
	mask = verbs.QPAttrState | verbs.QPAttrSQPSN
	if rc {
		mask |= verbs.QPAttrTimeout | verbs.QPAttrRetryCnt | verbs.QPAttrRNRRetry | verbs.QPAttrMaxQPRdAtomic
	}
	return qp.Modify(&rts, mask)
}

func waitOne(t *testing.T, cq *verbs.CQ) verbs.WorkCompletion {
	t.Helper()
	wc := waitN(t, cq, 1)[0]
	if err := wc.Err(); err != nil {
		t.Fatal(err)
	}
	return wc
}

// waitN returns the next n completions of cq, failed ones included, in the
// order polled.
func waitN(t *testing.T, cq *verbs.CQ, n int) []verbs.WorkCompletion {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wcs := make([]verbs.WorkCompletion, n)
	for got := 0; got < n; {
		m, err := cq.PollWait(ctx, wcs[got:])
		if err != nil {
			t.Fatalf("after %d of %d completions: %v", got, n, err)
		}
		got += m
	}
	return wcs
}

// expectEmpty fails t if cq holds a completion.
func expectEmpty(t *testing.T, cq *verbs.CQ) {
	t.Helper()
	wcs := make([]verbs.WorkCompletion, 4)
	if n, err := cq.Poll(wcs); n != 0 || err != nil {
		t.Errorf("unexpected completions %+v, %v", wcs[:n], err)
	}
}

func TestRCSendWriteRead(t *testing.T) {
	ctx := openTestDevice(t)
	a, b := newEnd(t, ctx, 4096), newEnd(t, ctx, 4096)
	connect(t, ctx, a, b)

	// Send: b receives the bytes, without immediate data.
	if err := b.qp.PostRecv([]verbs.RecvWR{{ID: 7, SGL: []verbs.SGE{b.mr.SGE(0, 64)}}}); err != nil {
		t.Fatal(err)
	}
	copy(a.buf.Bytes(), "hello, rdma")
	if err := a.qp.PostSend([]verbs.SendWR{{ID: 1, Opcode: verbs.WRSend, Flags: verbs.SendSignaled,
		SGL: []verbs.SGE{a.mr.SGE(0, 11)}}}); err != nil {
		t.Fatal(err)
	}
	if wc := waitOne(t, a.cq); wc.WRID != 1 || wc.Opcode != verbs.WCSend {
		t.Errorf("send completion %+v", wc)
	}
	wc := waitOne(t, b.cq)
	if wc.WRID != 7 || wc.Opcode != verbs.WCRecv || wc.ByteLen != 11 || wc.Flags&verbs.WCWithImm != 0 {
		t.Errorf("receive completion %+v", wc)
	}
	if got := string(b.buf.Bytes()[:11]); got != "hello, rdma" {
		t.Errorf("received %q", got)
	}

	// RDMA write, then a read. The write's completion only says the data
	// left (siw completes it once TCP has it); the read's response comes
	// after the responder placed the write, so the target is checked then.
	copy(a.buf.Bytes()[100:], "written")
	copy(b.buf.Bytes()[300:], "read me")
	if err := a.qp.PostSend([]verbs.SendWR{
		{ID: 2, Opcode: verbs.WRRDMAWrite, Flags: verbs.SendSignaled,
			SGL: []verbs.SGE{a.mr.SGE(100, 7)}, RemoteAddr: b.mr.Addr() + 200, RKey: b.mr.RKey()},
		{ID: 3, Opcode: verbs.WRRDMARead, Flags: verbs.SendSignaled,
			SGL: []verbs.SGE{a.mr.SGE(400, 7)}, RemoteAddr: b.mr.Addr() + 300, RKey: b.mr.RKey()},
	}); err != nil {
		t.Fatal(err)
	}
	for _, wc := range waitN(t, a.cq, 2) {
		if err := wc.Err(); err != nil {
			t.Fatal(err)
		}
		if want := map[uint64]verbs.WCOpcode{2: verbs.WCRDMAWrite, 3: verbs.WCRDMARead}[wc.WRID]; wc.Opcode != want {
			t.Errorf("completion %+v, want opcode %v", wc, want)
		}
	}
	if got := string(b.buf.Bytes()[200:207]); got != "written" {
		t.Errorf("RDMA write left %q", got)
	}
	if got := a.buf.Bytes()[400:407]; !bytes.Equal(got, []byte("read me")) {
		t.Errorf("RDMA read got %q", got)
	}
}

func TestSendWithImm(t *testing.T) {
	ctx := openTestDevice(t)
	a, b := newEnd(t, ctx, 4096), newEnd(t, ctx, 4096)
	connect(t, ctx, a, b)
	if err := b.qp.PostRecv([]verbs.RecvWR{{ID: 7, SGL: []verbs.SGE{b.mr.SGE(0, 64)}}}); err != nil {
		t.Fatal(err)
	}
	copy(a.buf.Bytes(), "hello, rdma")
	postWithImm(t, ctx, "IBV_WR_SEND_WITH_IMM", func() error {
		return a.qp.PostSend([]verbs.SendWR{{ID: 1, Opcode: verbs.WRSendWithImm, Flags: verbs.SendSignaled,
			SGL: []verbs.SGE{a.mr.SGE(0, 11)}, Imm: 0xdeadbeef}})
	})
	if wc := waitOne(t, a.cq); wc.WRID != 1 || wc.Opcode != verbs.WCSend {
		t.Errorf("send completion %+v", wc)
	}
	wc := waitOne(t, b.cq)
	if wc.WRID != 7 || wc.Opcode != verbs.WCRecv || wc.ByteLen != 11 || wc.Flags&verbs.WCWithImm == 0 || wc.Imm != 0xdeadbeef {
		t.Errorf("receive completion %+v", wc)
	}
	if got := string(b.buf.Bytes()[:11]); got != "hello, rdma" {
		t.Errorf("received %q", got)
	}
}

// postWithImm runs post, which posts a request with immediate data (opcode
// named opname). On iWARP, whose RDMAP (RFC 5040) carries no immediate data,
// a provider that refuses it at post time (siw: EINVAL) skips t as a
// transport limitation, with the refusal.
func postWithImm(t *testing.T, ctx *verbs.Context, opname string, post func() error) {
	t.Helper()
	err := post()
	var pe *verbs.PostError
	if err != nil && isIWARP(t, ctx) && errors.As(err, &pe) && pe.Index == 0 && errors.Is(err, syscall.EINVAL) {
		testbed.Limitation(t, "%s is iWARP, whose RDMAP has no immediate data: ibv_post_send of %s fails: %v",
			ctx.Name(), opname, err)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// sendPair is a connected pair of ends, a receive (ID 1) for b and a
// signaled 64-byte send (ID 2) from a to post on them.
func sendPair(t *testing.T) (ctx *verbs.Context, a, b *end, recv []verbs.RecvWR, send []verbs.SendWR) {
	t.Helper()
	ctx = openTestDevice(t)
	a, b = newEnd(t, ctx, 4096), newEnd(t, ctx, 4096)
	connect(t, ctx, a, b)
	recv = []verbs.RecvWR{{ID: 1, SGL: []verbs.SGE{b.mr.SGE(0, 64)}}}
	send = []verbs.SendWR{{ID: 2, Opcode: verbs.WRSend, Flags: verbs.SendSignaled, SGL: []verbs.SGE{a.mr.SGE(0, 64)}}}
	return ctx, a, b, recv, send
}

func TestPostPollAllocatesNothing(t *testing.T) {
	_, a, b, recv, send := sendPair(t)
	if allocs := roundTripAllocs(t, a, b, recv, send); allocs != 0 {
		t.Errorf("post+poll allocated %.1f times per round trip, want 0", allocs)
	}
}

// roundTripAllocs returns how many times a round trip allocates: recv
// posted on b, send posted on a, both completions polled.
func roundTripAllocs(t *testing.T, a, b *end, recv []verbs.RecvWR, send []verbs.SendWR) float64 {
	t.Helper()
	wcs := make([]verbs.WorkCompletion, 16)
	deadline := time.Now().Add(time.Minute)
	return testing.AllocsPerRun(200, func() {
		if err := b.qp.PostRecv(recv); err != nil {
			t.Fatal(err)
		}
		if err := a.qp.PostSend(send); err != nil {
			t.Fatal(err)
		}
		for got, polls := 0, 0; got < 2; polls++ {
			n, err := a.cq.Poll(wcs)
			if err != nil {
				t.Fatal(err)
			}
			m, err := b.cq.Poll(wcs[n:])
			if err != nil {
				t.Fatal(err)
			}
			for i := range wcs[:n+m] {
				if err := wcs[i].Err(); err != nil {
					t.Fatalf("round trip: %v", err)
				}
			}
			got += n + m
			if polls%1000 == 999 && time.Now().After(deadline) {
				t.Fatalf("round trips still under way after a minute (%d of 2 completions)", got)
			}
		}
	})
}

// BusyPoll returns a completion as it lands, allocates nothing, gives up
// with ctx's error on an empty CQ, and returns ErrClosed when the CQ is
// closed under it.
func TestBusyPoll(t *testing.T) {
	ctx, a, b, recv, send := sendPair(t)
	wcs := make([]verbs.WorkCompletion, 4)
	bg := context.Background()
	roundTrip := func() {
		if err := b.qp.PostRecv(recv); err != nil {
			t.Fatal(err)
		}
		if err := a.qp.PostSend(send); err != nil {
			t.Fatal(err)
		}
		for _, want := range []struct {
			cq *verbs.CQ
			id uint64
		}{{a.cq, 2}, {b.cq, 1}} {
			n, err := want.cq.BusyPoll(bg, wcs)
			if err != nil || n != 1 || wcs[0].WRID != want.id || wcs[0].Err() != nil {
				t.Fatalf("BusyPoll = %d, %v, first %+v; want the completion of request %d", n, err, wcs[0], want.id)
			}
		}
	}
	roundTrip()
	if allocs := testing.AllocsPerRun(100, roundTrip); allocs != 0 {
		t.Errorf("post+BusyPoll allocated %.1f times per round trip, want 0", allocs)
	}

	short, cancel := context.WithTimeout(bg, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	n, err := a.cq.BusyPoll(short, wcs)
	if n != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("BusyPoll of an empty CQ past the deadline = %d, %v; want context.DeadlineExceeded", n, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("BusyPoll took %v to notice a 50ms deadline", d)
	}
	if _, err := a.cq.BusyPoll(bg, nil); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("BusyPoll with no room = %v, want EINVAL", err)
	}

	// Close a spare CQ while BusyPoll spins on it: the call returns.
	spare, err := ctx.CreateCQ(4, nil)
	if err != nil {
		t.Fatal(err)
	}
	closeUnder(t, "BusyPoll", func() error {
		_, err := spare.BusyPoll(bg, make([]verbs.WorkCompletion, 1))
		return err
	}, spare.Close)
	if _, err := spare.BusyPoll(bg, wcs); !errors.Is(err, verbs.ErrClosed) {
		t.Errorf("BusyPoll of a closed CQ = %v, want ErrClosed", err)
	}
	var nilCQ *verbs.CQ
	if _, err := nilCQ.BusyPoll(bg, wcs); !errors.Is(err, verbs.ErrClosed) {
		t.Errorf("BusyPoll of a nil CQ = %v, want ErrClosed", err)
	}
}

// State of a QP no Modify has moved, or the last one moved to RESET, is
// RESET, as ibv_query_qp says too; once connected it is the device's
// answer. OutOfReset agrees with the device throughout.
func TestQPState(t *testing.T) {
	ctx := openTestDevice(t)
	e, peer := newEnd(t, ctx, 64), newEnd(t, ctx, 64)
	check := func(when string, want verbs.QPState) {
		t.Helper()
		if s, err := e.qp.State(); err != nil || s != want {
			t.Errorf("State %s = %v, %v; want %v", when, s, err, want)
		}
		if a, err := e.qp.Query(); err != nil || verbs.QPState(a.State) != want {
			t.Errorf("ibv_query_qp %s: %+v, %v; want %v", when, a, err, want)
		}
		if out, err := e.qp.OutOfReset(); err != nil || out != (want != verbs.QPStateReset) {
			t.Errorf("OutOfReset %s = %v, %v; want %v", when, out, err, want != verbs.QPStateReset)
		}
	}
	check("of a new QP", verbs.QPStateReset)
	connect(t, ctx, e, peer) // checks that State is then RTS
	if isIWARP(t, ctx) {
		// siw_query_qp reports no QP state: only OutOfReset can be checked.
		if out, err := e.qp.OutOfReset(); err != nil || !out {
			t.Errorf("OutOfReset once connected = %v, %v; want true", out, err)
		}
	} else {
		check("once connected", verbs.QPStateRTS)
		if err := e.qp.Modify(&verbs.QPAttr{State: int(verbs.QPStateReset)}, verbs.QPAttrState); err != nil {
			t.Fatal(err)
		}
		check("after a move back to RESET", verbs.QPStateReset)
	}
	fresh, err := e.pd.CreateQP(&verbs.QPInitAttr{Type: verbs.QPTypeRC, SendCQ: e.cq, RecvCQ: e.cq,
		Cap: verbs.QPCap{MaxSendWR: 1, MaxRecvWR: 1, MaxSendSGE: 1, MaxRecvSGE: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := fresh.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.State(); !errors.Is(err, verbs.ErrClosed) {
		t.Errorf("State of a closed QP = %v, want ErrClosed", err)
	}
	if _, err := fresh.OutOfReset(); !errors.Is(err, verbs.ErrClosed) {
		t.Errorf("OutOfReset of a closed QP = %v, want ErrClosed", err)
	}
}

func TestObjectLifetimes(t *testing.T) {
	ctx := openTestDevice(t)
	e := newEnd(t, ctx, 4096)
	for name, err := range map[string]error{
		"Context.Close with a live PD": ctx.Close(),
		"PD.Close with a live QP":      e.pd.Close(),
		"CQ.Close with a live QP":      e.cq.Close(),
		"Buffer.Close with a live MR":  e.buf.Close(),
	} {
		if !errors.Is(err, syscall.EBUSY) {
			t.Errorf("%s: %v, want EBUSY", name, err)
		}
	}
	wcs := make([]verbs.WorkCompletion, 1)
	if n, err := e.cq.Poll(wcs); n != 0 || err != nil {
		t.Errorf("Poll on an empty CQ = %d, %v", n, err)
	}
	if err := e.qp.PostSend(nil); err == nil {
		t.Error("PostSend(nil) succeeded")
	}
	if _, err := e.pd.RegMR(e.buf, 4000, 200, verbs.AccessLocalWrite); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("RegMR past the buffer's end: %v, want EINVAL", err)
	}
	if _, err := verbs.NewBuffer(0, nil); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("NewBuffer(0): %v, want EINVAL", err)
	}
	cctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := e.cq.Arm(false); err != nil {
		t.Fatal(err)
	}
	if err := e.cq.Wait(cctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait on an idle CQ: %v, want context.DeadlineExceeded", err)
	}
}

// closeUnder runs call, blocked on a CQ, then close, and checks that call
// returns ErrClosed.
func closeUnder(t *testing.T, name string, call, close func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- call() }()
	time.Sleep(20 * time.Millisecond)
	if err := close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, verbs.ErrClosed) {
			t.Errorf("%s with an object closed under it = %v, want ErrClosed", name, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s did not return after Close", name)
	}
}

// TestECEUnsupported: the providers of the test bed have no ECE (rdma-core
// 44 implements it for mlx5 only): QP.ECE and QP.SetECE fail with
// EOPNOTSUPP. (TestZeroValues covers closed QPs.)
func TestECEUnsupported(t *testing.T) {
	ctx := openTestDevice(t)
	e := newEnd(t, ctx, 4096)
	if _, err := e.qp.ECE(); !errors.Is(err, syscall.EOPNOTSUPP) {
		t.Errorf("QP.ECE: %v, want EOPNOTSUPP", err)
	}
	if err := e.qp.SetECE(verbs.ECE{VendorID: 0x15b3}); !errors.Is(err, syscall.EOPNOTSUPP) {
		t.Errorf("QP.SetECE: %v, want EOPNOTSUPP", err)
	}
}

// Modify refuses an attribute out of its field's range, which the kernel
// would take: rxe moves a QP to RTR with path MTU 0 (and computes with a
// packet size of -1), siw takes any attribute besides the state and the
// access flags.
func TestModifyOutOfRange(t *testing.T) {
	ctx := openTestDevice(t)
	a, b := newEnd(t, ctx, 4096), newEnd(t, ctx, 4096)
	if isIWARP(t, ctx) {
		attr := verbs.QPAttr{AccessFlags: int(verbs.AccessLocalWrite), Timeout: 32}
		if err := a.qp.Modify(&attr, verbs.QPAttrAccessFlags|verbs.QPAttrTimeout); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("access flags with timeout 32: %v, want EINVAL", err)
		}
		attr.Timeout = 31
		if err := a.qp.Modify(&attr, verbs.QPAttrAccessFlags|verbs.QPAttrTimeout); err != nil {
			t.Errorf("access flags with timeout 31: %v", err)
		}
		return
	}
	init := verbs.QPAttr{State: int(verbs.QPStateInit), PortNum: 1, AccessFlags: int(verbs.AccessLocalWrite)}
	if err := a.qp.Modify(&init, verbs.QPAttrState|verbs.QPAttrPKeyIndex|verbs.QPAttrPort|verbs.QPAttrAccessFlags); err != nil {
		t.Fatal(err)
	}
	gid := testGID(t, ctx)
	rtr := verbs.QPAttr{State: int(verbs.QPStateRTR), DestQPNum: b.qp.Num(), RQPSN: 100, MaxDestRdAtomic: 1, MinRNRTimer: 12,
		AHAttr: verbs.AHAttr{IsGlobal: true, PortNum: 1, GRH: verbs.GlobalRoute{DGID: gid.GID, SGIDIndex: uint8(gid.Index), HopLimit: 64}}}
	mask := verbs.QPAttrState | verbs.QPAttrAV | verbs.QPAttrPathMTU | verbs.QPAttrDestQPN | verbs.QPAttrRQPSN | verbs.QPAttrMaxDestRdAtomic | verbs.QPAttrMinRNRTimer
	for _, mtu := range []verbs.MTU{0, verbs.MTU4096 + 1} {
		rtr.PathMTU = mtu
		if err := a.qp.Modify(&rtr, mask); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("INIT to RTR with path MTU %d: %v, want EINVAL", mtu, err)
		}
		if s, err := a.qp.State(); err != nil || s != verbs.QPStateInit {
			t.Errorf("state %v, %v after the refused modify, want INIT", s, err)
		}
	}
	rtr.PathMTU = verbs.MTU1024
	if err := a.qp.Modify(&rtr, mask); err != nil {
		t.Errorf("INIT to RTR with path MTU 1024: %v", err)
	}
}
