package verbs_test

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/go-rdma/rdma/internal/testbed"
	"github.com/go-rdma/rdma/verbs"
)

// newSRQ makes a PD and an SRQ in it, closed after the test's ends.
func newSRQ(t *testing.T, ctx *verbs.Context, maxWR int) (*verbs.PD, *verbs.SRQ) {
	t.Helper()
	pd, err := ctx.AllocPD()
	if err != nil {
		t.Fatal(err)
	}
	srq, err := pd.CreateSRQ(&verbs.SRQInitAttr{MaxWR: maxWR, MaxSGE: 1, Batch: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srq.Close(); err != nil {
			t.Error(err)
		}
		if err := pd.Close(); err != nil {
			t.Error(err)
		}
	})
	return pd, srq
}

// SRQ operations that need no connection: post (batched), query, limits,
// lifetimes.
func TestSRQPostQueryLimit(t *testing.T) {
	ctx := openTestDevice(t)
	pd, srq := newSRQ(t, ctx, 32)
	e := newEndWith(t, ctx, 4096, endOpts{srq: srq, pd: pd})
	wrs := make([]verbs.RecvWR, 20) // three chains of the batch of 8
	for i := range wrs {
		wrs[i] = verbs.RecvWR{ID: uint64(i), SGL: []verbs.SGE{e.mr.SGE(i*64, 64)}}
	}
	if err := srq.PostRecv(wrs); err != nil {
		t.Fatal(err)
	}
	if err := srq.ArmLimit(10); err != nil {
		t.Fatal(err)
	}
	var pe *verbs.PostError
	if err := srq.PostRecv([]verbs.RecvWR{wrs[0], {ID: 2, SGL: make([]verbs.SGE, 64)}}); !errors.As(err, &pe) || pe.Index != 1 {
		t.Errorf("SRQ PostRecv with too many SGEs in request 1: %v", err)
	}
	other := newEnd(t, ctx, 4096) // another PD
	if err := srq.PostRecv([]verbs.RecvWR{wrs[1], {ID: 3, SGL: []verbs.SGE{other.mr.SGE(0, 64)}}}); !errors.As(err, &pe) || pe.Index != 1 || !errors.Is(err, syscall.EINVAL) {
		t.Errorf("SRQ PostRecv of an entry of another PD's region in request 1: %v, want a *PostError at 1 wrapping EINVAL", err)
	}
	if err := e.qp.PostRecv(wrs[:1]); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("QP.PostRecv on a QP with an SRQ: %v, want EINVAL", err)
	}
	if err := srq.Close(); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("SRQ.Close with a live QP: %v, want EBUSY", err)
	}
	if err := srq.ArmLimit(-1); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("ArmLimit(-1): %v, want EINVAL", err)
	}
}

func TestSRQQuery(t *testing.T) {
	ctx := openTestDevice(t)
	_, srq := newSRQ(t, ctx, 32)
	a, err := srq.Query()
	if errors.Is(err, syscall.EOPNOTSUPP) {
		testbed.Limitation(t, "%s: ibv_query_srq fails with EOPNOTSUPP", ctx.Name())
	}
	if err != nil {
		t.Fatal(err)
	}
	if a.MaxWR < 32 || a.MaxSGE < 1 || a.SRQLimit != 0 {
		t.Errorf("SRQ attributes %+v", a)
	}
	if err := srq.ArmLimit(10); err != nil {
		t.Fatal(err)
	}
	if a, err := srq.Query(); err != nil || a.SRQLimit != 10 {
		t.Errorf("after ArmLimit(10): %+v, %v", a, err)
	}
}

// Two QPs share one SRQ; consuming receives below the armed limit raises
// the SRQ limit event.
func TestSRQSharedByTwoQPs(t *testing.T) {
	ctx := openTestDevice(t)
	events, err := ctx.Events()
	if err != nil {
		t.Fatal(err)
	}
	pd, srq := newSRQ(t, ctx, 64)
	b1 := newEndWith(t, ctx, 4096, endOpts{srq: srq, pd: pd})
	b2 := newEndWith(t, ctx, 4096, endOpts{srq: srq, pd: pd})
	a1, a2 := newEnd(t, ctx, 4096), newEnd(t, ctx, 4096)
	connect(t, ctx, a1, b1)
	connect(t, ctx, a2, b2)

	const posted = 8
	wrs := make([]verbs.RecvWR, posted)
	for i := range wrs {
		wrs[i] = verbs.RecvWR{ID: uint64(i), SGL: []verbs.SGE{b1.mr.SGE(i*64, 64)}}
	}
	if err := srq.PostRecv(wrs); err != nil {
		t.Fatal(err)
	}
	if err := srq.ArmLimit(6); err != nil {
		t.Fatal(err)
	}
	copy(a1.buf.Bytes(), "from a1")
	copy(a2.buf.Bytes(), "from a2")
	for _, a := range []*end{a1, a2, a1, a2} {
		if err := a.qp.PostSend([]verbs.SendWR{{Opcode: verbs.WRSend, Flags: verbs.SendSignaled, SGL: []verbs.SGE{a.mr.SGE(0, 7)}}}); err != nil {
			t.Fatal(err)
		}
		waitOne(t, a.cq)
	}
	seen := map[uint64]bool{}
	for _, b := range []struct {
		e    *end
		want string
	}{{b1, "from a1"}, {b2, "from a2"}} {
		for _, wc := range waitN(t, b.e.cq, 2) {
			if wc.Err() != nil || wc.QPNum != b.e.qp.Num() || wc.WRID >= posted || seen[wc.WRID] {
				t.Fatalf("completion %+v on QP %d", wc, b.e.qp.Num())
			}
			seen[wc.WRID] = true
			if got := string(b1.buf.Bytes()[wc.WRID*64 : wc.WRID*64+7]); got != b.want {
				t.Errorf("SRQ buffer %d holds %q, want %q", wc.WRID, got, b.want)
			}
		}
	}
	// 4 of 8 receives remain, fewer than the limit 6.
	waitEvent(t, events, func(e verbs.AsyncEvent) bool { return e.Type == verbs.EventSRQLimitReached && e.SRQ == srq })
	switch a, err := srq.Query(); {
	case errors.Is(err, syscall.EOPNOTSUPP):
		t.Logf("%s: ibv_query_srq fails with EOPNOTSUPP: the disarmed limit is not checked", ctx.Name())
	case err != nil || a.SRQLimit != 0:
		t.Errorf("after the limit event the SRQ's limit is %+v, %v; want 0 (disarmed)", a, err)
	}

	// Post through the SRQ and poll allocate nothing.
	recv := wrs[:1]
	send := []verbs.SendWR{{Opcode: verbs.WRSend, Flags: verbs.SendSignaled, SGL: []verbs.SGE{a1.mr.SGE(0, 7)}}}
	wcs := make([]verbs.WorkCompletion, 4)
	allocs := testing.AllocsPerRun(50, func() {
		if err := srq.PostRecv(recv); err != nil {
			t.Fatal(err)
		}
		if err := a1.qp.PostSend(send); err != nil {
			t.Fatal(err)
		}
		for got := 0; got < 2; {
			n, _ := a1.cq.Poll(wcs)
			m, _ := b1.cq.Poll(wcs[n:])
			got += n + m
		}
	})
	if allocs != 0 {
		t.Errorf("SRQ post+poll allocated %.1f times per round trip, want 0", allocs)
	}
}

// waitEvent reads events until match accepts one, for up to 10 s.
func waitEvent(t *testing.T, events <-chan verbs.AsyncEvent, match func(verbs.AsyncEvent) bool) verbs.AsyncEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatal("event channel closed")
			}
			t.Logf("async event: %v (QP %d, port %d)", e.Type, e.QPNum, e.Port)
			if match(e) {
				return e
			}
		case <-ctx.Done():
			t.Fatal("no matching async event within 10 s")
		}
	}
}
