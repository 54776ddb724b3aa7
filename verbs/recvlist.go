package verbs

import (
	"context"
	"fmt"
	"math"
	"syscall"

	"github.com/go-rdma/rdma/cgo"
)

// A RecvList is a chain of receive work requests for one QP or SRQ, built
// once in C memory and posted as often as needed: what a program that
// replaces each consumed receive with the same one does (perftest's
// ping-pongs and servers). Post is one call into libibverbs, with neither
// conversion nor validation again, where PostRecv does both on every call;
// SendList.RepostAfter posts it between a poll and the reply in one call
// into C. SetID and SetSGE change a request between posts.
//
// The list holds its QP or SRQ and the regions its scatter/gather entries
// name open: their Close fails with EBUSY until the list is closed. Each
// non-empty entry must lie inside an open region of the queue's PD, at its
// memory's own address (not a RegMRAt region at another IOVA), as for
// PostRecv (EINVAL otherwise). A request may be posted again before its
// earlier posts completed (the provider copies it at each post): each
// receives into the same memory, as perftest's receives do.
//
// A RecvList is safe for concurrent use; its calls are serialized.
type RecvList struct {
	qp    *QP  // the list's queue: a QP,
	srq   *SRQ // or an SRQ
	pd    *PD
	owner *life
	listLock
	raw    cgo.RecvList
	maxSGE int
	mrs    listRegions
}

// NewRecvList builds wrs into a RecvList for qp, validating each request
// as PostRecv does, and holds the entries' regions open (see RecvList). A
// QP created with an SRQ takes no receive requests of its own (EINVAL):
// build the list on the SRQ. The list keeps no reference to wrs or their
// SGLs.
func (qp *QP) NewRecvList(wrs []RecvWR) (*RecvList, error) {
	const op = "build receive list"
	if qp == nil || !qp.acquire() {
		return nil, opError(op, qp.name(), ErrClosed)
	}
	defer qp.release()
	if qp.srq != nil {
		return nil, opError(op, qp.name(), fmt.Errorf("the QP receives through its SRQ: %w", syscall.EINVAL))
	}
	l := &RecvList{qp: qp, pd: qp.pd, owner: &qp.life}
	_, _, l.maxSGE = qp.raw.Batch()
	return l.build(op, wrs, qp.raw.NewRecvList)
}

// NewRecvList builds wrs into a RecvList for the SRQ, validating each
// request as PostRecv does, and holds the entries' regions open (see
// RecvList). The list keeps no reference to wrs or their SGLs.
func (srq *SRQ) NewRecvList(wrs []RecvWR) (*RecvList, error) {
	const op = "build receive list"
	if srq == nil || !srq.acquire() {
		return nil, opError(op, srq.name(), ErrClosed)
	}
	defer srq.release()
	l := &RecvList{srq: srq, pd: srq.pd, owner: &srq.life}
	_, l.maxSGE = srq.raw.Batch()
	return l.build(op, wrs, srq.raw.NewRecvList)
}

// build allocates the list's C memory with alloc and builds wrs into it;
// the list's queue is open.
func (l *RecvList) build(op string, wrs []RecvWR, alloc func(int) (cgo.RecvList, error)) (*RecvList, error) {
	if len(wrs) == 0 {
		return nil, opError(op, l.name(), fmt.Errorf("no work requests: %w", syscall.EINVAL))
	}
	if len(wrs) > math.MaxInt32/l.maxSGE {
		return nil, opError(op, l.name(), fmt.Errorf("%d requests of %d SGEs: %w", len(wrs), l.maxSGE, syscall.E2BIG))
	}
	raw, err := alloc(len(wrs))
	if err != nil {
		return nil, opError(op, l.name(), err)
	}
	l.raw, l.n = raw, len(wrs)
	l.mrs = make(listRegions, len(wrs)*l.maxSGE)
	l.owner.children.Add(1)
	for i := range wrs {
		if err := l.set(i, &wrs[i]); err != nil {
			l.free()
			return nil, opError(op, l.name(), fmt.Errorf("work request %d: %w", i, err))
		}
	}
	return l, nil
}

// set validates wr, pins the regions it names and stores it as request i.
func (l *RecvList) set(i int, wr *RecvWR) error {
	if len(wr.SGL) > l.maxSGE {
		return fmt.Errorf("%d SGEs, the queue takes %d: %w", len(wr.SGL), l.maxSGE, syscall.EINVAL)
	}
	for j, sge := range wr.SGL {
		if sge.Length == 0 {
			continue
		}
		mr, err := pinRegion(l.pd, sge, receivesInto)
		if err != nil {
			return fmt.Errorf("SGE %d: %w", j, err)
		}
		l.mrs[i*l.maxSGE+j] = mr
	}
	l.raw.Set(i, wr.ID, wr.SGL)
	return nil
}

// receivesInto refuses a region a receive may not name: one the device
// addresses at another IOVA than its memory's, which providers that copy
// small messages with the CPU would miss.
func receivesInto(mr *MR) error {
	if mr.atIOVA() {
		return errAtIOVA(mr.base)
	}
	return nil
}

func (l *RecvList) name() string {
	if l.qp != nil {
		return l.qp.name()
	}
	return l.srq.name()
}

// Len returns the number of requests in the list.
func (l *RecvList) Len() int {
	if l == nil {
		return 0
	}
	return l.n
}

// lock locks the list for a call on request i (of 0 … Len()-1), or on the
// first i requests when first.
func (l *RecvList) lock(op string, i int, first bool) error {
	if l == nil {
		return opError(op, "", ErrClosed)
	}
	return l.listLock.lock(op, l, l.owner != nil, i, first)
}

// SetID sets the ID of request i, for the completions of later posts.
func (l *RecvList) SetID(i int, id uint64) error {
	if err := l.lock("set receive list ID", i, false); err != nil {
		return err
	}
	l.raw.SetID(i, id)
	l.mu.Unlock()
	return nil
}

// SetSGE sets scatter/gather entry j of request i, one of the entries it
// was built with (EINVAL beyond them). As in NewRecvList, a non-empty sge
// must lie inside an open region of the queue's PD, at its memory's own
// address.
func (l *RecvList) SetSGE(i, j int, sge SGE) error {
	const op = "set receive list SGE"
	if err := l.lock(op, i, false); err != nil {
		return err
	}
	defer l.mu.Unlock()
	if j < 0 || j >= len(l.raw.SGL(i)) {
		return opError(op, l.name(), fmt.Errorf("request %d has no such scatter/gather entry: %w", i, syscall.EINVAL))
	}
	var mr *MR
	if sge.Length > 0 {
		var err error
		if mr, err = pinRegion(l.pd, sge, receivesInto); err != nil {
			return opError(op, l.name(), fmt.Errorf("request %d SGE %d: %w", i, j, err))
		}
	}
	k := i*l.maxSGE + j
	l.mrs.set(k, mr)
	l.raw.SetSGE(i, j, sge)
	return nil
}

// Post posts the list's first n requests (1 … Len()) as one chain
// (ibv_post_recv, or ibv_post_srq_recv for an SRQ's list). It allocates
// nothing on success. A refusal is a *PostError: the requests before its
// Index were posted. On IB and RoCE, a post to a QP in RESET fails with
// ErrNotReady.
func (l *RecvList) Post(n int) error {
	op := l.postOp()
	if err := l.lock(op, n, true); err != nil {
		return err
	}
	// The queue is open: it does not close while the list lives.
	bad, err := l.raw.Post(n)
	l.mu.Unlock()
	if err != nil {
		return &PostError{Op: op, Index: bad, Err: err}
	}
	return nil
}

func (l *RecvList) postOp() string {
	if l != nil && l.srq != nil {
		return "ibv_post_srq_recv"
	}
	return "ibv_post_recv"
}

// Close frees the list and lets its queue and memory regions close.
// Requests it posted stay posted.
func (l *RecvList) Close() error {
	const op = "free receive list"
	if l == nil {
		return opError(op, "", ErrClosed)
	}
	if err := l.lockOpen(op, l, l.owner != nil); err != nil {
		return err
	}
	defer l.mu.Unlock()
	l.free()
	return nil
}

// free frees the C memory and lets the queue and the regions close.
func (l *RecvList) free() {
	l.raw.Free()
	l.owner.children.Add(-1)
	l.mrs.release()
	l.closed = true
}

// RepostAfter is PostAfter with recv's first nrecv requests (1 …
// recv.Len()) posted between the poll and the sends, in the same call into
// C: a ping-pong's turn that replaces the receive it consumed before it
// replies, in perftest's order. A refused receive is a *PostError of
// ibv_post_recv (or ibv_post_srq_recv), returned with the completions'
// count: the sends were not posted. recv may be of any QP or SRQ. It
// allocates nothing.
func (l *SendList) RepostAfter(ctx context.Context, cq *CQ, wcs []WorkCompletion, recv *RecvList, nrecv, n int) (int, error) {
	if recv == nil {
		return 0, opError(recv.postOp(), "", ErrClosed)
	}
	return l.postAfter(ctx, cq, wcs, recv, nrecv, n)
}
