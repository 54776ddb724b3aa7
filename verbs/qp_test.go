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

// end is one side of a hand-connected RC pair: its own PD, CQ, QP and a
// registered buffer.
type end struct {
	pd  *verbs.PD
	cq  *verbs.CQ
	qp  *verbs.QP
	buf *verbs.Buffer
	mr  *verbs.MR
}

func newEnd(t *testing.T, ctx *verbs.Context, size int) *end {
	t.Helper()
	e := &end{}
	var err error
	if e.pd, err = ctx.AllocPD(); err != nil {
		t.Fatal(err)
	}
	if e.cq, err = ctx.CreateCQ(64, nil); err != nil {
		t.Fatal(err)
	}
	e.qp, err = e.pd.CreateQP(&verbs.QPInitAttr{
		Type: verbs.QPTypeRC, SendCQ: e.cq, RecvCQ: e.cq,
		Cap: verbs.QPCap{MaxSendWR: 32, MaxRecvWR: 32, MaxSendSGE: 1, MaxRecvSGE: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	if e.buf, err = verbs.NewBuffer(size, nil); err != nil {
		t.Fatal(err)
	}
	access := verbs.AccessLocalWrite | verbs.AccessRemoteWrite | verbs.AccessRemoteRead
	if e.mr, err = e.pd.RegMR(e.buf, 0, 0, access); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, c := range []interface{ Close() error }{e.qp, e.mr, e.buf, e.cq, e.pd} {
			if err := c.Close(); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	return e
}

// connectRC brings a and b to RTS against each other, as ibv_rc_pingpong does.
func connectRC(t *testing.T, ctx *verbs.Context, a, b *end) {
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
	port, err := ctx.QueryPort(1)
	if err != nil {
		t.Fatal(err)
	}
	table, err := ctx.GIDTable()
	if err != nil {
		t.Fatal(err)
	}
	gid := table[len(table)-1]
	for _, pair := range [][2]*end{{a, b}, {b, a}} {
		self, peer := pair[0], pair[1]
		steps := []struct {
			attr verbs.QPAttr
			mask verbs.QPAttrMask
		}{
			{verbs.QPAttr{State: int(verbs.QPStateInit), PortNum: 1,
				AccessFlags: int(verbs.AccessLocalWrite | verbs.AccessRemoteWrite | verbs.AccessRemoteRead | verbs.AccessRemoteAtomic)},
				verbs.QPAttrState | verbs.QPAttrPKeyIndex | verbs.QPAttrPort | verbs.QPAttrAccessFlags},
			{verbs.QPAttr{State: int(verbs.QPStateRTR), PathMTU: port.ActiveMTU, DestQPNum: peer.qp.Num(), RQPSN: 100,
				MaxDestRdAtomic: 1, MinRNRTimer: 12,
				AHAttr: verbs.AHAttr{IsGlobal: true, PortNum: 1, GRH: verbs.GlobalRoute{DGID: gid.GID, SGIDIndex: uint8(gid.Index), HopLimit: 64}}},
				verbs.QPAttrState | verbs.QPAttrAV | verbs.QPAttrPathMTU | verbs.QPAttrDestQPN | verbs.QPAttrRQPSN |
					verbs.QPAttrMaxDestRdAtomic | verbs.QPAttrMinRNRTimer},
		}
		for _, s := range steps {
			if err := self.qp.Modify(&s.attr, s.mask); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, e := range []*end{a, b} {
		rts := verbs.QPAttr{State: int(verbs.QPStateRTS), SQPSN: 100, Timeout: 14, RetryCnt: 7, RNRRetry: 7, MaxRdAtomic: 1}
		if err := e.qp.Modify(&rts, verbs.QPAttrState|verbs.QPAttrSQPSN|verbs.QPAttrTimeout|verbs.QPAttrRetryCnt|
			verbs.QPAttrRNRRetry|verbs.QPAttrMaxQPRdAtomic); err != nil {
			t.Fatal(err)
		}
		if s, err := e.qp.State(); err != nil || s != verbs.QPStateRTS {
			t.Fatalf("QP %d state %v, %v", e.qp.Num(), s, err)
		}
	}
}

func waitOne(t *testing.T, cq *verbs.CQ) verbs.WorkCompletion {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wcs := make([]verbs.WorkCompletion, 1)
	if _, err := cq.PollWait(ctx, wcs); err != nil {
		t.Fatal(err)
	}
	if err := wcs[0].Err(); err != nil {
		t.Fatal(err)
	}
	return wcs[0]
}

func TestRCSendWriteRead(t *testing.T) {
	ctx := openTestDevice(t)
	a, b := newEnd(t, ctx, 4096), newEnd(t, ctx, 4096)
	connectRC(t, ctx, a, b)

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
	connectRC(t, ctx, a, b)
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
