package verbs_test

import (
	"bytes"
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/go-rdma/rdma/internal/testbed"
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

// handConnectable skips t, as a transport limitation, on devices whose QPs
// cannot be connected by hand.
func handConnectable(t *testing.T, ctx *verbs.Context) {
	t.Helper()
	dev, err := verbs.Devices()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dev {
		if d.Name == ctx.Name() && d.Transport == verbs.TransportIWARP {
			testbed.Limitation(t, "%s is iWARP: its QPs reach RTS only through the iWARP connection manager, not by hand", d.Name)
		}
	}
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

// connect brings the RC or UC QPs of a and b to RTS against each other, as
// ibv_rc_pingpong does. It is the one connection step of the data-path
// tests.
func connect(t *testing.T, ctx *verbs.Context, a, b *end) {
	t.Helper()
	handConnectable(t, ctx)
	port, err := ctx.QueryPort(1)
	if err != nil {
		t.Fatal(err)
	}
	gid := testGID(t, ctx)
	rc := a.qp.Type() == verbs.QPTypeRC
	access := verbs.AccessLocalWrite | verbs.AccessRemoteWrite
	if rc {
		access |= verbs.AccessRemoteRead | verbs.AccessRemoteAtomic
	}
	for _, pair := range [][2]*end{{a, b}, {b, a}} {
		self, peer := pair[0], pair[1]
		init := verbs.QPAttr{State: int(verbs.QPStateInit), PortNum: 1, AccessFlags: int(access)}
		if err := self.qp.Modify(&init, verbs.QPAttrState|verbs.QPAttrPKeyIndex|verbs.QPAttrPort|verbs.QPAttrAccessFlags); err != nil {
			t.Fatal(err)
		}
		rtr := verbs.QPAttr{State: int(verbs.QPStateRTR), PathMTU: port.ActiveMTU, DestQPNum: peer.qp.Num(), RQPSN: 100,
			MaxDestRdAtomic: 1, MinRNRTimer: 12,
			AHAttr: verbs.AHAttr{IsGlobal: true, PortNum: 1, GRH: verbs.GlobalRoute{DGID: gid.GID, SGIDIndex: uint8(gid.Index), HopLimit: 64}}}
		mask := verbs.QPAttrState | verbs.QPAttrAV | verbs.QPAttrPathMTU | verbs.QPAttrDestQPN | verbs.QPAttrRQPSN
		if rc {
			mask |= verbs.QPAttrMaxDestRdAtomic | verbs.QPAttrMinRNRTimer
		}
		if err := self.qp.Modify(&rtr, mask); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range []*end{a, b} {
		rts := verbs.QPAttr{State: int(verbs.QPStateRTS), SQPSN: 100, Timeout: 14, RetryCnt: 7, RNRRetry: 7, MaxRdAtomic: 1}
		mask := verbs.QPAttrState | verbs.QPAttrSQPSN
		if rc {
			mask |= verbs.QPAttrTimeout | verbs.QPAttrRetryCnt | verbs.QPAttrRNRRetry | verbs.QPAttrMaxQPRdAtomic
		}
		if err := e.qp.Modify(&rts, mask); err != nil {
			t.Fatal(err)
		}
		if s, err := e.qp.State(); err != nil || s != verbs.QPStateRTS {
			t.Fatalf("QP %d state %v, %v", e.qp.Num(), s, err)
		}
	}
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

	// Send with immediate data: b receives bytes and immediate.
	if err := b.qp.PostRecv([]verbs.RecvWR{{ID: 7, SGL: []verbs.SGE{b.mr.SGE(0, 64)}}}); err != nil {
		t.Fatal(err)
	}
	copy(a.buf.Bytes(), "hello, rdma")
	if err := a.qp.PostSend([]verbs.SendWR{{ID: 1, Opcode: verbs.WRSendWithImm, Flags: verbs.SendSignaled,
		SGL: []verbs.SGE{a.mr.SGE(0, 11)}, Imm: 0xdeadbeef}}); err != nil {
		t.Fatal(err)
	}
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

	// RDMA write then read back.
	copy(a.buf.Bytes()[100:], "written")
	if err := a.qp.PostSend([]verbs.SendWR{{ID: 2, Opcode: verbs.WRRDMAWrite, Flags: verbs.SendSignaled,
		SGL: []verbs.SGE{a.mr.SGE(100, 7)}, RemoteAddr: b.mr.Addr() + 200, RKey: b.mr.RKey()}}); err != nil {
		t.Fatal(err)
	}
	waitOne(t, a.cq)
	if got := string(b.buf.Bytes()[200:207]); got != "written" {
		t.Errorf("RDMA write left %q", got)
	}
	copy(b.buf.Bytes()[300:], "read me")
	if err := a.qp.PostSend([]verbs.SendWR{{ID: 3, Opcode: verbs.WRRDMARead, Flags: verbs.SendSignaled,
		SGL: []verbs.SGE{a.mr.SGE(400, 7)}, RemoteAddr: b.mr.Addr() + 300, RKey: b.mr.RKey()}}); err != nil {
		t.Fatal(err)
	}
	if wc := waitOne(t, a.cq); wc.Opcode != verbs.WCRDMARead {
		t.Errorf("read completion %+v", wc)
	}
	if got := a.buf.Bytes()[400:407]; !bytes.Equal(got, []byte("read me")) {
		t.Errorf("RDMA read got %q", got)
	}
}

func TestPostPollAllocatesNothing(t *testing.T) {
	ctx := openTestDevice(t)
	a, b := newEnd(t, ctx, 4096), newEnd(t, ctx, 4096)
	connect(t, ctx, a, b)
	recv := []verbs.RecvWR{{ID: 1, SGL: []verbs.SGE{b.mr.SGE(0, 64)}}}
	send := []verbs.SendWR{{ID: 2, Opcode: verbs.WRSend, Flags: verbs.SendSignaled, SGL: []verbs.SGE{a.mr.SGE(0, 64)}}}
	wcs := make([]verbs.WorkCompletion, 16)
	allocs := testing.AllocsPerRun(200, func() {
		if err := b.qp.PostRecv(recv); err != nil {
			t.Fatal(err)
		}
		if err := a.qp.PostSend(send); err != nil {
			t.Fatal(err)
		}
		for got := 0; got < 2; {
			n, err := a.cq.Poll(wcs)
			if err != nil {
				t.Fatal(err)
			}
			m, err := b.cq.Poll(wcs[n:])
			if err != nil {
				t.Fatal(err)
			}
			got += n + m
		}
	})
	if allocs != 0 {
		t.Errorf("post+poll allocated %.1f times per round trip, want 0", allocs)
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
