package verbs_test

import (
	"context"
	"errors"
	"math"
	"syscall"
	"testing"
	"time"

	"github.com/go-rdma/rdma/verbs"
)

// sendTexts sends each text from a as one signaled send and waits for its
// completion.
func sendTexts(t *testing.T, a *end, texts ...string) {
	t.Helper()
	for _, s := range texts {
		copy(a.buf.Bytes()[3000:], s)
		if err := a.qp.PostSend([]verbs.SendWR{{Opcode: verbs.WRSend, Flags: verbs.SendSignaled,
			SGL: []verbs.SGE{a.mr.SGE(3000, len(s))}}}); err != nil {
			t.Fatal(err)
		}
		waitOne(t, a.cq)
	}
}

// A receive list posts its requests, or its first ones, as built, and SetID
// and SetSGE change what later posts receive; it holds its QP and regions
// open until closed.
func TestRecvList(t *testing.T) {
	ctx := openTestDevice(t)
	a, b := newEnd(t, ctx, 4096), newEnd(t, ctx, 4096)
	connect(t, ctx, a, b)
	wrs := []verbs.RecvWR{
		{ID: 10, SGL: []verbs.SGE{b.mr.SGE(0, 64)}},
		{ID: 11, SGL: []verbs.SGE{b.mr.SGE(64, 32), b.mr.SGE(256, 32)}},
		{ID: 12, SGL: []verbs.SGE{b.mr.SGE(128, 64)}},
	}
	list, err := b.qp.NewRecvList(wrs)
	if err != nil {
		t.Fatal(err)
	}
	defer list.Close()
	if list.Len() != 3 {
		t.Errorf("Len %d, want 3", list.Len())
	}
	// The list keeps its own copy of the requests and their entries.
	wrs[1].SGL[0] = verbs.SGE{}
	clear(wrs)
	if err := list.Post(3); err != nil {
		t.Fatal(err)
	}
	// 40 bytes into request 11: 32 in its first entry, 8 in its second.
	sendTexts(t, a, "zero", "one: 32 bytes in, then 8 more: 40 bytes!", "two")
	for i, wc := range waitN(t, b.cq, 3) {
		if wc.Err() != nil || wc.Opcode != verbs.WCRecv || wc.WRID != uint64(10+i) {
			t.Errorf("receive %d: %+v, want request %d", i, wc, 10+i)
		}
	}
	buf := b.buf.Bytes()
	if got := string(buf[:4]) + "|" + string(buf[64:96]) + string(buf[256:264]) + "|" + string(buf[128:131]); got != "zero|one: 32 bytes in, then 8 more: 40 bytes!|two" {
		t.Errorf("received %q", got)
	}

	// The first two again, request 11 renamed and receiving elsewhere.
	if err := list.SetID(1, 21); err != nil {
		t.Fatal(err)
	}
	if err := list.SetSGE(1, 1, b.mr.SGE(1024, 32)); err != nil {
		t.Fatal(err)
	}
	if err := list.Post(2); err != nil {
		t.Fatal(err)
	}
	sendTexts(t, a, "again", "the first 32 bytes, then the rest")
	if wcs := waitN(t, b.cq, 2); wcs[0].WRID != 10 || wcs[1].WRID != 21 || wcs[1].ByteLen != 33 {
		t.Errorf("receives %+v, want requests 10 and 21 (33 bytes)", wcs)
	}
	if got := string(buf[64:96]) + "|" + string(buf[1024:1025]); got != "the first 32 bytes, then the res|t" {
		t.Errorf("request 21 holds %q", got)
	}
	time.Sleep(20 * time.Millisecond)
	expectEmpty(t, b.cq)

	// The list holds its regions and its QP.
	if err := b.mr.Close(); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("closing a region of a live receive list: %v, want EBUSY", err)
	}
	if err := b.mr.Rereg(verbs.AccessLocalWrite | verbs.AccessRemoteWrite); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("re-registering a region of a live receive list: %v, want EBUSY", err)
	}
	if err := b.qp.Close(); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("closing the QP of a live receive list: %v, want EBUSY", err)
	}
	if err := list.Close(); err != nil {
		t.Fatal(err)
	}
	for i, err := range []error{list.Post(1), list.SetID(0, 1), list.SetSGE(0, 0, b.mr.SGE(0, 8)), list.Close()} {
		if !errors.Is(err, verbs.ErrClosed) {
			t.Errorf("call %d on a closed list: %v, want ErrClosed", i, err)
		}
	}
	if err := b.mr.Rereg(verbs.AccessLocalWrite | verbs.AccessRemoteWrite); err != nil {
		t.Errorf("re-registering the region after its list: %v", err)
	}
}

// A receive list of an SRQ posts to the SRQ, and holds it open.
func TestRecvListSRQ(t *testing.T) {
	ctx := openTestDevice(t)
	pd, srq := newSRQ(t, ctx, 16)
	b := newEndWith(t, ctx, 4096, endOpts{srq: srq, pd: pd})
	a := newEnd(t, ctx, 4096)
	connect(t, ctx, a, b)
	wrs := []verbs.RecvWR{{ID: 1, SGL: []verbs.SGE{b.mr.SGE(0, 64)}}, {ID: 2, SGL: []verbs.SGE{b.mr.SGE(64, 64)}}}
	if l, err := b.qp.NewRecvList(wrs); !errors.Is(err, syscall.EINVAL) || l != nil {
		t.Errorf("NewRecvList on a QP of an SRQ: %v, want EINVAL", err)
	}
	list, err := srq.NewRecvList(wrs)
	if err != nil {
		t.Fatal(err)
	}
	if err := list.Post(2); err != nil {
		t.Fatal(err)
	}
	sendTexts(t, a, "first", "second")
	if wcs := waitN(t, b.cq, 2); wcs[0].WRID != 1 || wcs[1].WRID != 2 || string(b.buf.Bytes()[64:70]) != "second" {
		t.Errorf("receives %+v, second buffer %q", wcs, b.buf.Bytes()[64:70])
	}

	// Post and poll allocate nothing.
	wcs := make([]verbs.WorkCompletion, 4)
	send := []verbs.SendWR{{Opcode: verbs.WRSend, Flags: verbs.SendSignaled, SGL: []verbs.SGE{a.mr.SGE(0, 8)}}}
	deadline := time.Now().Add(20 * time.Second)
	allocs := testing.AllocsPerRun(50, func() {
		if err := list.Post(1); err != nil {
			t.Fatal(err)
		}
		if err := a.qp.PostSend(send); err != nil {
			t.Fatal(err)
		}
		for got := 0; got < 2; {
			n, errA := a.cq.Poll(wcs)
			m, errB := b.cq.Poll(wcs[n:])
			for _, wc := range wcs[:n+m] {
				if err := wc.Err(); err != nil {
					t.Fatal(err)
				}
			}
			if errA != nil || errB != nil || time.Now().After(deadline) {
				t.Fatalf("after %d of 2 completions: %v, %v", got, errA, errB)
			}
			got += n + m
		}
	})
	if allocs != 0 {
		t.Errorf("receive list post+poll allocated %.1f times per round trip, want 0", allocs)
	}

	// The SRQ (16 requests) refuses a post once full: a PostError of
	// ibv_post_srq_recv.
	var pe *verbs.PostError
	for i := 0; ; i++ {
		err := list.Post(2)
		if err == nil && i < 1000 {
			continue
		}
		if !errors.As(err, &pe) || pe.Op != "ibv_post_srq_recv" {
			t.Errorf("post %d of 2 receives to an SRQ of 16: %v, want ibv_post_srq_recv's PostError", i, err)
		}
		break
	}
	if err := list.Close(); err != nil {
		t.Fatal(err)
	}
	if err := list.Post(1); !errors.Is(err, verbs.ErrClosed) {
		t.Errorf("Post on a closed SRQ list: %v, want ErrClosed", err)
	}

	// An SRQ no QP uses refuses to close while a list of its lives.
	_, alone := newSRQ(t, ctx, 4)
	empty, err := alone.NewRecvList([]verbs.RecvWR{{ID: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := alone.Close(); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("closing the SRQ of a live receive list: %v, want EBUSY", err)
	}
	if err := empty.Close(); err != nil {
		t.Fatal(err)
	}
}

// Building or changing a list validates each entry as PostRecv does; a
// failed build lets the regions it had pinned close; nil, zero and closed
// lists and queues give ErrClosed.
func TestRecvListBadInput(t *testing.T) {
	ctx := openTestDevice(t)
	e := newEnd(t, ctx, 4096)
	good := verbs.RecvWR{SGL: []verbs.SGE{e.mr.SGE(0, 8)}}
	otherPD, err := ctx.AllocPD()
	if err != nil {
		t.Fatal(err)
	}
	defer otherPD.Close()
	otherMR, err := otherPD.RegMR(e.buf, 0, 0, verbs.AccessLocalWrite)
	if err != nil {
		t.Fatal(err)
	}
	defer otherMR.Close()
	atIOVA, err := e.pd.RegMRAt(e.buf, 0, 4096, 0, verbs.AccessLocalWrite)
	if err != nil {
		t.Fatal(err)
	}
	defer atIOVA.Close()
	list, err := e.qp.NewRecvList([]verbs.RecvWR{good})
	if err != nil {
		t.Fatal(err)
	}
	defer list.Close()
	var pe *verbs.PostError
	for name, sge := range map[string]verbs.SGE{
		"an lkey of no region":          {Addr: e.mr.Addr(), Length: 8, LKey: e.mr.LKey() ^ 0xffff00},
		"a region of another PD":        otherMR.SGE(0, 8),
		"a region at another IOVA":      atIOVA.SGE(0, 8),
		"past the region's end":         e.mr.SGE(4090, 8),
		"a length wrapping the address": {Addr: e.mr.Addr() + 8, Length: math.MaxUint32, LKey: e.mr.LKey()},
	} {
		if l, err := e.qp.NewRecvList([]verbs.RecvWR{good, {SGL: []verbs.SGE{sge}}}); !errors.Is(err, syscall.EINVAL) || errors.As(err, &pe) || l != nil {
			t.Errorf("NewRecvList with an entry of %s: %v, want EINVAL", name, err)
		}
		if err := list.SetSGE(0, 0, sge); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("SetSGE to an entry of %s: %v, want EINVAL", name, err)
		}
	}
	tooMany := make([]verbs.SGE, e.qp.Cap().MaxRecvSGE+1)
	for name, wrs := range map[string][]verbs.RecvWR{
		"no requests":   nil,
		"too many SGEs": {good, {SGL: tooMany}},
	} {
		if l, err := e.qp.NewRecvList(wrs); !errors.Is(err, syscall.EINVAL) || l != nil {
			t.Errorf("NewRecvList with %s: %v, want EINVAL", name, err)
		}
	}
	for name, err := range map[string]error{
		"Post(0)":          list.Post(0),
		"Post(Len+1)":      list.Post(2),
		"SetID(Len)":       list.SetID(1, 1),
		"SetSGE(-1, 0)":    list.SetSGE(-1, 0, e.mr.SGE(0, 8)),
		"SetSGE(0, 1)":     list.SetSGE(0, 1, e.mr.SGE(0, 8)),
		"RepostAfter(0 r)": errPostAfter(sendListOf(t, e).RepostAfter(context.Background(), e.cq, make([]verbs.WorkCompletion, 1), list, 0, 1)),
	} {
		if !errors.Is(err, syscall.EINVAL) {
			t.Errorf("%s: %v, want EINVAL", name, err)
		}
	}

	// A failed build unpins the regions of the requests before the bad one.
	mr, err := e.pd.RegMR(e.buf, 0, 0, verbs.AccessLocalWrite)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.qp.NewRecvList([]verbs.RecvWR{{SGL: []verbs.SGE{mr.SGE(0, 8)}}, {SGL: tooMany}}); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("NewRecvList with a bad second request: %v, want EINVAL", err)
	}
	if err := mr.Close(); err != nil {
		t.Errorf("closing the region of a failed list: %v", err)
	}
	// An empty entry names no region.
	empty, err := e.qp.NewRecvList([]verbs.RecvWR{{SGL: []verbs.SGE{{LKey: 12345}}}, {}})
	if err != nil {
		t.Errorf("NewRecvList of empty receives: %v", err)
	} else if err := empty.Close(); err != nil {
		t.Error(err)
	}

	var nilList *verbs.RecvList
	var zero verbs.RecvList
	var nilQP *verbs.QP
	var nilSRQ *verbs.SRQ
	_, errNilQP := nilQP.NewRecvList([]verbs.RecvWR{good})
	_, errNilSRQ := nilSRQ.NewRecvList([]verbs.RecvWR{good})
	for name, err := range map[string]error{
		"nil QP NewRecvList":  errNilQP,
		"nil SRQ NewRecvList": errNilSRQ,
		"nil list Post":       nilList.Post(1),
		"nil list SetID":      nilList.SetID(0, 1),
		"nil list SetSGE":     nilList.SetSGE(0, 0, verbs.SGE{}),
		"nil list Close":      nilList.Close(),
		"nil list RepostAfter": errPostAfter(sendListOf(t, e).RepostAfter(context.Background(), e.cq,
			make([]verbs.WorkCompletion, 1), nilList, 1, 1)),
		"zero list Post":  zero.Post(1),
		"zero list Close": zero.Close(),
	} {
		if !errors.Is(err, verbs.ErrClosed) {
			t.Errorf("%s: %v, want ErrClosed", name, err)
		}
	}
	if nilList.Len() != 0 {
		t.Errorf("nil list Len %d", nilList.Len())
	}
	// A closed QP builds no list.
	qp, err := e.pd.CreateQP(&verbs.QPInitAttr{Type: verbs.QPTypeRC, SendCQ: e.cq, RecvCQ: e.cq, Cap: verbs.QPCap{MaxSendWR: 1, MaxRecvWR: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := qp.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := qp.NewRecvList([]verbs.RecvWR{good}); !errors.Is(err, verbs.ErrClosed) {
		t.Errorf("NewRecvList on a closed QP: %v, want ErrClosed", err)
	}
}

// sendListOf is a send list of one send of e's, closed when the test ends.
func sendListOf(t *testing.T, e *end) *verbs.SendList {
	t.Helper()
	l, err := e.qp.NewSendList([]verbs.SendWR{{Opcode: verbs.WRSend, SGL: []verbs.SGE{e.mr.SGE(0, 8)}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// RepostAfter replaces the consumed receive and replies in one call: a
// ping-pong with one receive posted on the answering side runs only if
// each turn reposts it before the next ping. A turn allocates nothing; a
// refused receive stops the reply.
func TestSendListRepostAfter(t *testing.T) {
	ctx := openTestDevice(t)
	a, b := newEnd(t, ctx, 4096), newEnd(t, ctx, 4096)
	connect(t, ctx, a, b)
	copy(a.buf.Bytes(), "ping")
	copy(b.buf.Bytes()[100:], "pong")
	ping := []verbs.SendWR{{ID: 3, Opcode: verbs.WRSend, Flags: verbs.SendSignaled, SGL: []verbs.SGE{a.mr.SGE(0, 4)}}}
	aRecv, err := a.qp.NewRecvList([]verbs.RecvWR{{ID: 1, SGL: []verbs.SGE{a.mr.SGE(200, 64)}}})
	if err != nil {
		t.Fatal(err)
	}
	defer aRecv.Close()
	bRecv, err := b.qp.NewRecvList([]verbs.RecvWR{{ID: 2, SGL: []verbs.SGE{b.mr.SGE(0, 64)}}, {ID: 4, SGL: []verbs.SGE{b.mr.SGE(64, 8)}}})
	if err != nil {
		t.Fatal(err)
	}
	defer bRecv.Close()
	pong, err := b.qp.NewSendList([]verbs.SendWR{{ID: 9, Opcode: verbs.WRSend, Flags: verbs.SendSignaled,
		SGL: []verbs.SGE{b.mr.SGE(100, 4)}}})
	if err != nil {
		t.Fatal(err)
	}
	defer pong.Close()
	if err := bRecv.Post(1); err != nil {
		t.Fatal(err)
	}
	wcs := make([]verbs.WorkCompletion, 1)
	bg := context.Background()

	// Nothing arrives: nothing is posted.
	wait, cancel := context.WithTimeout(bg, 50*time.Millisecond)
	got, err := pong.RepostAfter(wait, b.cq, wcs, bRecv, 1, 1)
	cancel()
	if got != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("RepostAfter with nothing coming: %d, %v, want 0 and DeadlineExceeded", got, err)
	}

	// turn sends a ping from a and has b answer it; it polls a's pong
	// receive and both sends. A ping that finds no receive is retried
	// until tctx ends.
	tctx, cancel := context.WithTimeout(bg, 20*time.Second)
	defer cancel()
	turn := func() {
		if err := aRecv.Post(1); err != nil {
			t.Fatal(err)
		}
		if err := a.qp.PostSend(ping); err != nil {
			t.Fatal(err)
		}
		if got, err := pong.RepostAfter(tctx, b.cq, wcs, bRecv, 1, 1); got != 1 || err != nil || wcs[0].Err() != nil || wcs[0].WRID != 2 {
			t.Fatalf("RepostAfter: %d, %v, completion %+v, want the ping's receive", got, err, wcs[0])
		}
		for got := 0; got < 3; {
			if err := tctx.Err(); err != nil {
				t.Fatalf("after %d of 3 completions: %v", got, err)
			}
			n, err := a.cq.Poll(wcs)
			if err != nil || (n > 0 && wcs[0].Err() != nil) {
				t.Fatal(err, wcs[0])
			}
			m, err := b.cq.Poll(wcs)
			if err != nil || (m > 0 && wcs[0].Err() != nil) {
				t.Fatal(err, wcs[0])
			}
			got += n + m
		}
	}
	for range 20 {
		turn()
	}
	if got := string(a.buf.Bytes()[200:204]) + string(b.buf.Bytes()[:4]); got != "pongping" {
		t.Errorf("a and b received %q", got)
	}
	if allocs := testing.AllocsPerRun(20, turn); allocs != 0 {
		t.Errorf("a RepostAfter ping-pong allocated %.1f times, want 0", allocs)
	}

	// Fill b's receive queue up to one free slot: the ping takes one, the
	// first of two reposts fills the queue and the second is refused; the
	// pong is not sent (a has a receive for it, which would complete).
	if err := aRecv.Post(1); err != nil {
		t.Fatal(err)
	}
	filled := 1 // the receive each turn left posted
	for ; filled < 1<<14; filled++ {
		if err := b.qp.PostRecv([]verbs.RecvWR{{ID: 5, SGL: []verbs.SGE{b.mr.SGE(512, 8)}}}); err != nil {
			break
		}
	}
	if filled == 1<<14 {
		t.Fatalf("b's receive queue took %d receives", filled)
	}
	if err := a.qp.PostSend(ping); err != nil {
		t.Fatal(err)
	}
	got, err = pong.RepostAfter(bg, b.cq, wcs, bRecv, 2, 1)
	var pe *verbs.PostError
	if got != 1 || wcs[0].WRID != 2 || !errors.As(err, &pe) || pe.Index != 1 || pe.Op != "ibv_post_recv" {
		t.Errorf("RepostAfter into a full receive queue (%d receives): %d, %v, completion %+v, want the ping's receive and ibv_post_recv's PostError at 1",
			filled, got, err, wcs[0])
	}
	if wc := waitOne(t, a.cq); wc.WRID != 3 {
		t.Errorf("a's completion %+v, want its ping's send", wc)
	}
	time.Sleep(50 * time.Millisecond)
	expectEmpty(t, a.cq)
	expectEmpty(t, b.cq)

	// A closed receive list: nothing is polled or posted.
	if err := a.qp.PostSend(ping); err != nil {
		t.Fatal(err)
	}
	waitOne(t, a.cq)
	time.Sleep(20 * time.Millisecond)
	spare, err := b.qp.NewRecvList([]verbs.RecvWR{{ID: 6}})
	if err != nil {
		t.Fatal(err)
	}
	if err := spare.Close(); err != nil {
		t.Fatal(err)
	}
	if got, err := pong.RepostAfter(bg, b.cq, wcs, spare, 1, 1); got != 0 || !errors.Is(err, verbs.ErrClosed) {
		t.Errorf("RepostAfter with a closed receive list: %d, %v, want ErrClosed", got, err)
	}
	var nilCtx context.Context
	if got, err := pong.RepostAfter(nilCtx, b.cq, wcs, spare, 1, 1); got != 0 || !errors.Is(err, verbs.ErrClosed) {
		t.Errorf("RepostAfter with a closed receive list and a nil context: %d, %v, want ErrClosed", got, err)
	}
	if wc := waitOne(t, b.cq); wc.WRID != 5 || wc.Opcode != verbs.WCRecv {
		t.Errorf("b's completion %+v, want the third ping's receive (the oldest, 5), still there", wc)
	}
	// The receive list closed while RepostAfter spins: it returns.
	idle, err := ctx.CreateCQ(4, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	closeUnder(t, "RepostAfter (the receive list)", func() error { return errPostAfter(pong.RepostAfter(bg, idle, wcs, bRecv, 1, 1)) }, bRecv.Close)
	time.Sleep(20 * time.Millisecond)
	expectEmpty(t, a.cq)
	expectEmpty(t, b.cq)
}
