package verbs_test

import (
	"errors"
	"testing"
	"time"

	"github.com/go-rdma/rdma/internal/testbed"
	"github.com/go-rdma/rdma/verbs"
)

// A read with a bad rkey fails, the request fenced behind it is flushed and
// the requester is in error. On IB and RoCE the responder NAKs the read
// (WCRemAccessErr). On iWARP it ends the connection with a TERMINATE and
// raises an async QP error event; the read's status is the RNIC's (siw
// flushes it).
func TestQPErrorFlushes(t *testing.T) {
	ctx := openTestDevice(t)
	iwarp := isIWARP(t, ctx)
	events, err := ctx.Events()
	if err != nil {
		t.Fatal(err)
	}
	a, b := newEnd(t, ctx, 4096), newEnd(t, ctx, 4096)
	connect(t, ctx, a, b)
	if err := a.qp.PostSend([]verbs.SendWR{
		{ID: 1, Opcode: verbs.WRRDMARead, Flags: verbs.SendSignaled, SGL: []verbs.SGE{a.mr.SGE(0, 8)},
			RemoteAddr: b.mr.Addr(), RKey: b.mr.RKey() ^ 0xffff00},
		{ID: 2, Opcode: verbs.WRRDMAWrite, Flags: verbs.SendSignaled | verbs.SendFence, SGL: []verbs.SGE{a.mr.SGE(0, 8)},
			RemoteAddr: b.mr.Addr(), RKey: b.mr.RKey()},
	}); err != nil {
		t.Fatal(err)
	}
	wcs := waitN(t, a.cq, 2)
	var wcErr *verbs.WCError
	if !errors.As(wcs[0].Err(), &wcErr) || wcs[0].WRID != 1 || !iwarp && wcErr.Status != verbs.WCRemAccessErr {
		t.Errorf("bad-rkey read completed with %+v (%v), want %v", wcs[0], wcs[0].Err(), verbs.WCRemAccessErr)
	}
	if wcs[1].Status != verbs.WCWRFlushErr || wcs[1].WRID != 2 {
		t.Errorf("next write completed with %+v, want %v", wcs[1], verbs.WCWRFlushErr)
	}
	if iwarp {
		waitEvent(t, events, func(e verbs.AsyncEvent) bool {
			return e.QP == b.qp && (e.Type == verbs.EventQPReqErr || e.Type == verbs.EventQPAccessErr || e.Type == verbs.EventQPFatal)
		})
		return // siw_query_qp reports no state: the flushes above show it
	}
	if s, err := a.qp.State(); err != nil || s != verbs.QPStateErr {
		t.Errorf("requester state %v, %v; want ERR", s, err)
	}
}

// Draining a QP's send queue (RTS to SQD with async notification) raises a
// QP event, delivered with its QP.
func TestAsyncEventSQDrained(t *testing.T) {
	ctx := openTestDevice(t)
	if isIWARP(t, ctx) {
		testbed.Limitation(t, "%s is iWARP, whose QPs (RDMAC verbs) have no SQD state: siw takes IBV_QPS_SQD as "+
			"closing the connection and raises no IBV_EVENT_SQ_DRAINED", ctx.Name())
	}
	events, err := ctx.Events()
	if err != nil {
		t.Fatal(err)
	}
	a, b := newEnd(t, ctx, 4096), newEnd(t, ctx, 4096)
	connect(t, ctx, a, b)
	sqd := verbs.QPAttr{State: int(verbs.QPStateSQD), EnSQDAsyncNotify: true}
	if err := a.qp.Modify(&sqd, verbs.QPAttrState|verbs.QPAttrEnSQDAsyncNotify); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, events, func(e verbs.AsyncEvent) bool {
		return e.Type == verbs.EventSQDrained && e.QP == a.qp && e.QPNum == a.qp.Num()
	})
}

// Closing the context stops its event goroutine and closes the channel.
func TestEventsStopOnClose(t *testing.T) {
	ctx, err := verbs.Open(testbed.Device(t))
	if err != nil {
		t.Fatal(err)
	}
	events, err := ctx.Events()
	if err != nil {
		t.Fatal(err)
	}
	if again, err := ctx.Events(); err != nil || again != events {
		t.Errorf("second Events() = %v, %v; want the same channel", again, err)
	}
	if err := ctx.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case _, ok := <-events:
		if ok {
			t.Error("an event after Close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("event channel still open 5 s after Close")
	}
	if _, err := ctx.Events(); !errors.Is(err, verbs.ErrClosed) {
		t.Errorf("Events after Close: %v, want ErrClosed", err)
	}
}
