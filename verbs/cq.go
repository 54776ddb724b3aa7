package verbs

import (
	"context"
	"fmt"
	"math"
	"sync"
	"syscall"
	"time"

	"github.com/go-rdma/rdma/cgo"
)

// Work completions and their parts; see cgo.WC for the fields.
type (
	// WorkCompletion is one polled completion (struct ibv_wc). Err returns
	// a *WCError unless its status is success.
	WorkCompletion = cgo.WC
	// WCStatus is a completion's status; String gives ibv_wc_status_str.
	WCStatus = cgo.WCStatus
	// WCOpcode is the operation a completion is for.
	WCOpcode = cgo.WCOpcode
	// WCFlags are a completion's flags (immediate data present, GRH present…).
	WCFlags = cgo.WCFlags
	// WCError is a failed completion as an error.
	WCError = cgo.WCError
)

// Completion statuses, opcodes and flags.
const (
	WCSuccess         = cgo.WCSuccess
	WCLocLenErr       = cgo.WCLocLenErr
	WCLocQPOpErr      = cgo.WCLocQPOpErr
	WCLocProtErr      = cgo.WCLocProtErr
	WCWRFlushErr      = cgo.WCWRFlushErr
	WCRemAccessErr    = cgo.WCRemAccessErr
	WCRetryExcErr     = cgo.WCRetryExcErr
	WCRNRRetryExcErr  = cgo.WCRNRRetryExcErr
	WCSend            = cgo.WCSend
	WCRDMAWrite       = cgo.WCRDMAWrite
	WCRDMARead        = cgo.WCRDMARead
	WCCompSwap        = cgo.WCCompSwap
	WCFetchAdd        = cgo.WCFetchAdd
	WCBindMW          = cgo.WCBindMW
	WCLocalInv        = cgo.WCLocalInv
	WCRecv            = cgo.WCRecv
	WCRecvRDMAWithImm = cgo.WCRecvRDMAWithImm
	WCWithGRH         = cgo.WCWithGRH
	WCWithImm         = cgo.WCWithImm
	// WCWithInv: the message, a send with invalidate, invalidated the rkey
	// in Imm. rxe's kernel flag for it (1 << 2, IBV_WC_IP_CSUM_OK's bit
	// elsewhere) is reported as WCWithInv; libsiw (rdma-core 44) reports
	// no flags.
	WCWithInv = cgo.WCWithInv
)

// CQ is a completion queue (struct ibv_cq). Its completion events come
// through its context's completion channel, shared by the context's CQs and
// waited on by Go's netpoller.
type CQ struct {
	life
	ctx *Context
	raw cgo.CQ

	// Made by the first Wait or completion event, so that a CQ that is only
	// polled allocates none.
	waitMu sync.Mutex
	event  chan struct{} // a completion event came and no Wait has taken it yet
	closed chan struct{} // closed by Close; closedChan when Close came first
}

// closedChan stands for the closed channel of a CQ closed before any Wait.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// waitChans returns the CQ's event and closed channels, made on first use.
func (cq *CQ) waitChans() (event, closed chan struct{}) {
	cq.waitMu.Lock()
	defer cq.waitMu.Unlock()
	if cq.event == nil {
		cq.event = make(chan struct{}, 1)
	}
	if cq.closed == nil {
		cq.closed = make(chan struct{})
	}
	return cq.event, cq.closed
}

// CQOptions tune CreateCQ.
type CQOptions struct {
	// Batch is the most completions one Poll call returns (default 64; never
	// more than the CQ holds).
	Batch int
	// Vector is the completion vector (interrupt) whose events the CQ
	// raises, 0 (the default) to Context.NumCompVectors()-1: CQs of
	// threads on different CPUs spread over the vectors.
	Vector int
}

// CreateCQ creates a completion queue of at least cqe entries (ibv_create_cq)
// on the context's completion channel.
func (c *Context) CreateCQ(cqe int, opts *CQOptions) (*CQ, error) {
	var o CQOptions
	if opts != nil {
		o = *opts
	}
	if o.Batch == 0 {
		o.Batch = 64
	}
	var cq *CQ
	err := c.use("ibv_create_cq", "", func(raw cgo.Context) error {
		if cqe <= 0 || cqe > math.MaxInt32 || o.Batch < 0 || o.Vector < 0 || o.Vector > math.MaxInt32 {
			return fmt.Errorf("cqe %d, batch %d, vector %d: %w", cqe, o.Batch, o.Vector, syscall.EINVAL)
		}
		ch, err := c.compChannel(raw)
		if err != nil {
			return err
		}
		r, err := raw.CreateCQ(cqe, ch, o.Vector, o.Batch)
		if err != nil {
			return err
		}
		if c.rxe {
			r.KernelWCFlags()
		}
		cq = &CQ{life: born(), ctx: c, raw: r}
		c.children.Add(1)
		c.register(r.ID(), cq)
		return nil
	})
	return cq, err
}

// Close destroys the CQ; EBUSY while QPs use it. A Wait blocked on the CQ
// returns ErrClosed.
func (cq *CQ) Close() error {
	if cq == nil {
		return opError("ibv_destroy_cq", "", ErrClosed)
	}
	err := cq.close(func() error {
		if err := unregistered(cq.ctx, cq.raw.ID(), cq, cq.raw.Destroy); err != nil {
			return err
		}
		cq.waitMu.Lock()
		if cq.closed == nil {
			cq.closed = closedChan
		} else {
			close(cq.closed)
		}
		cq.waitMu.Unlock()
		return nil
	})
	if err == nil {
		cq.ctx.children.Add(-1)
	}
	return opError("ibv_destroy_cq", cq.name(), err)
}

// Poll fills wcs with up to len(wcs) completions (at most the CQ's batch) in
// one call and returns how many. It allocates nothing. A failed completion
// is returned like any other; check WorkCompletion.Err.
func (cq *CQ) Poll(wcs []WorkCompletion) (int, error) {
	if cq == nil || !cq.acquire() {
		return 0, cq.closedError("ibv_poll_cq")
	}
	n, err := cq.raw.Poll(wcs)
	cq.release()
	if err != nil {
		return 0, opError("ibv_poll_cq", cq.name(), err)
	}
	cq.polled(wcs[:n])
	return n, nil
}

// polled records in this process's type 2 windows what wcs report: a
// peer's send with invalidate unbinds the window its rkey names (a local
// invalidate of it would then be refused, as one of a window never
// bound); on rxe a failed request of a QP leaves the windows last bound
// through it unknown (qpFailed). The device acts before the completion:
// the record follows once the completion is polled. It costs one load,
// inlined, while no type 2 window is open.
func (cq *CQ) polled(wcs []WorkCompletion) {
	if windows.open.Load() != 0 {
		cq.recordWindows(wcs)
	}
}

// recordWindows is polled's work for open windows.
func (cq *CQ) recordWindows(wcs []WorkCompletion) {
	failed := -1 // the QP of the last failed completion, recorded
	for i := range wcs {
		switch wc := &wcs[i]; {
		case wc.Status != WCSuccess:
			// A QP's flushed requests come in a row.
			if cq.ctx.rxe && int(wc.QPNum) != failed {
				qpFailed(cq.ctx.name, wc.QPNum)
				failed = int(wc.QPNum)
			}
		case wc.Flags&WCWithInv != 0:
			if mw := windowOf(cq.ctx.name, wc.Imm); mw != nil {
				mw.invalidated(wc.Imm)
			}
		}
	}
}

// nilContext is the error of the blocking call op given a nil context:
// ErrClosed on a closed CQ, as for any call, else errNilContext.
func (cq *CQ) nilContext(op string) error {
	if cq == nil || !cq.acquire() {
		return cq.closedError(op)
	}
	cq.release()
	return opError(op, cq.name(), errNilContext)
}

// busySpins is how many empty polls BusyPoll makes in C per call into it:
// a burst long enough to make the call's cost vanish, short enough that
// ctx and Close are noticed within microseconds.
const busySpins = 4096

// yieldEvery is how often a busy wait yields: well under the 10 ms after
// which Go's runtime preempts a goroutine.
const yieldEvery = 5 * time.Millisecond

// Yield lets other goroutines run, as runtime.Gosched does, but puts the
// caller back on its own processor's run queue and wakes no idle thread.
// A goroutine that polls back to back for longer than 10 ms (a loop of
// Poll, BusyPoll or PostAfter calls) should call it every few milliseconds,
// where runtime.Gosched would wake a thread each time; see the package
// documentation. One call of BusyPoll or PostAfter that waits that long
// yields by itself.
func Yield() { cgo.Yield() }

// busyWait yields every yieldEvery of one busy wait. It reads the
// monotonic clock alone after its first burst: where the vDSO cannot read
// the clocksource (the HPET of a guest whose TSC is not trusted), each read
// is a system call, and time.Now makes two.
type busyWait struct {
	start time.Time
	next  time.Duration
}

// empty is called after each burst of empty polls.
func (w *busyWait) empty() {
	if w.due() {
		Yield()
	}
}

// due reports whether the wait yields now: yieldEvery after its first
// burst, then yieldEvery after each yield.
func (w *busyWait) due() bool {
	if w.start.IsZero() {
		w.start, w.next = time.Now(), yieldEvery
		return false
	}
	d := time.Since(w.start)
	if d < w.next {
		return false
	}
	w.next = d + yieldEvery
	return true
}

// BusyPoll polls until at least one completion is in wcs, ctx is done or
// the CQ is closed, and returns how many. Empty polls repeat in C, so the
// completion is seen as soon as a C loop would see it, without a cgo call
// per empty poll; ctx is checked between bursts of a few thousand polls,
// and a long wait yields (Yield) every few milliseconds. It keeps a CPU
// busy: use it where latency matters more than the CPU, and PollWait
// elsewhere. It allocates nothing.
//
// A goroutine that calls it back to back for longer than 10 ms should call
// Yield every few milliseconds (see the package documentation).
func (cq *CQ) BusyPoll(ctx context.Context, wcs []WorkCompletion) (int, error) {
	if ctx == nil {
		return 0, cq.nilContext("ibv_poll_cq")
	}
	var w busyWait
	for {
		if cq == nil || !cq.acquire() {
			return 0, cq.closedError("ibv_poll_cq")
		}
		if len(wcs) == 0 {
			cq.release()
			return 0, opError("ibv_poll_cq", cq.name(), fmt.Errorf("no room for completions: %w", syscall.EINVAL))
		}
		n, err := cq.raw.PollSpin(wcs, busySpins)
		cq.release()
		if err != nil {
			return 0, opError("ibv_poll_cq", cq.name(), err)
		}
		if n > 0 {
			cq.polled(wcs[:n])
			return n, nil
		}
		if err := ctx.Err(); err != nil {
			return 0, opError("ibv_poll_cq", cq.name(), err)
		}
		w.empty()
	}
}

// Resize makes the CQ hold at least cqe completions (ibv_resize_cq),
// keeping those it holds; the kernel refuses (EINVAL) a size below what it
// holds. It waits for the polls in progress, and calls on the CQ wait for
// it. Some devices cannot resize a CQ: siw gives EOPNOTSUPP.
//
// A resize that fails after the kernel resized the CQ (on rxe, mapping
// the new queue failed, the old one unmapped already) leaves a CQ that can
// only be closed: its polls and resizes fail with an error wrapping
// syscall.EIO.
func (cq *CQ) Resize(cqe int) error {
	if cq == nil {
		return cq.closedError("ibv_resize_cq")
	}
	return opError("ibv_resize_cq", cq.name(), cq.exclusive(func() error {
		if cqe <= 0 || cqe > math.MaxInt32 {
			return fmt.Errorf("cqe %d: %w", cqe, syscall.EINVAL)
		}
		return cq.raw.Resize(cqe)
	}))
}

// Size returns how many completions the CQ holds at most: at least what
// CreateCQ or Resize asked for, as the device rounded it; 0 once closed.
func (cq *CQ) Size() int {
	if cq == nil || !cq.acquire() {
		return 0
	}
	defer cq.release()
	return cq.raw.CQE()
}

func (cq *CQ) name() string {
	if cq == nil {
		return ""
	}
	return cq.ctx.Name()
}

func (cq *CQ) closedError(op string) error { return opError(op, cq.name(), ErrClosed) }

// Arm requests a completion event for the next completion (or the next
// solicited one) (ibv_req_notify_cq).
func (cq *CQ) Arm(solicitedOnly bool) error {
	if cq == nil || !cq.acquire() {
		return cq.closedError("ibv_req_notify_cq")
	}
	defer cq.release()
	return opError("ibv_req_notify_cq", cq.name(), cq.raw.ReqNotify(solicitedOnly))
}

// Wait blocks until the armed CQ signals a completion event, ctx is done, or
// the CQ is closed. The event is acknowledged. No OS thread is blocked: the
// first Wait on any CQ of the context starts one goroutine that waits on the
// context's completion channel through Go's netpoller and wakes the CQ an
// event is for, so that CQs that are only polled cost nothing. A wake-up
// is a reason to poll, not a promise of a completion (the event of a CQ
// destroyed meanwhile can reach a new one at the same address): poll after
// Wait, as PollWait does.
func (cq *CQ) Wait(ctx context.Context) error {
	if ctx == nil {
		return cq.nilContext("ibv_get_cq_event")
	}
	if cq == nil || !cq.acquire() {
		return cq.closedError("ibv_get_cq_event")
	}
	err := cq.ctx.watchCompletions()
	cq.release()
	if err != nil {
		return opError("ibv_get_cq_event", cq.name(), err)
	}
	event, closed := cq.waitChans()
	select {
	case <-event:
		return nil
	case <-closed:
		return cq.closedError("ibv_get_cq_event")
	case <-ctx.Done():
		return opError("ibv_get_cq_event", cq.name(), ctx.Err())
	}
}

// notify records a completion event for Wait.
func (cq *CQ) notify() {
	event, _ := cq.waitChans()
	select {
	case event <- struct{}{}:
	default:
	}
}

// PollWait polls wcs; when the CQ is empty it arms it, polls once more (a
// completion may have slipped in), and waits for the event. It returns as
// soon as at least one completion is in wcs.
func (cq *CQ) PollWait(ctx context.Context, wcs []WorkCompletion) (int, error) {
	if ctx == nil {
		return 0, cq.nilContext("ibv_poll_cq")
	}
	for {
		n, err := cq.Poll(wcs)
		if n > 0 || err != nil {
			return n, err
		}
		if len(wcs) == 0 {
			// Nothing could ever be returned: the wait would never end.
			return 0, opError("ibv_poll_cq", cq.name(), fmt.Errorf("no room for completions: %w", syscall.EINVAL))
		}
		if err := cq.Arm(false); err != nil {
			return 0, err
		}
		if n, err := cq.Poll(wcs); n > 0 || err != nil {
			return n, err
		}
		if err := cq.Wait(ctx); err != nil {
			return 0, err
		}
	}
}
