package verbs

import (
	"context"
	"fmt"
	"math"
	"syscall"

	"github.com/go-rdma/rdma/cgo"
)

// A SendList is a chain of send work requests built once, in C memory, and
// posted to its QP as often as needed, as perftest builds its ibv_send_wr
// lists before its measured loop. Post is one call into libibverbs,
// PostChains one call into C for several, PostAfter one for a poll and the
// post it releases: the requests are neither converted nor validated again,
// where PostSend does both on every call. SetID, SetFlags, SetRemote, SetImm
// and SetSGE change a request between posts (which one is signaled, where
// it writes) without a call into C.
//
// The list holds its QP, the AHs of its requests and the regions its
// scatter/gather entries name open: their Close fails with EBUSY until the
// list is closed. Each entry must lie inside an open region of the QP's PD
// (EINVAL otherwise), so that no post, inline requests' included, reads
// memory that is no longer there; an entry of length 0 names none. Bind
// and invalidate requests (WRBindMW, WRLocalInv, WRSendWithInv) are posted
// with PostSend.
//
// A SendList is safe for concurrent use; its calls are serialized.
type SendList struct {
	listLock
	qp     *QP
	raw    cgo.SendList
	maxSGE int
	ahs    []*AH
	mrs    listRegions
}

// NewSendList builds wrs into a SendList for qp, validating each request as
// PostSend does (every entry inside an open MR of the QP's PD, named by its
// LKey), and holds the entries' regions open (see SendList). Bind and
// invalidate requests are refused. The list keeps no reference to wrs or
// their SGLs.
func (qp *QP) NewSendList(wrs []SendWR) (*SendList, error) {
	const op = "build send list"
	if qp == nil || !qp.acquire() {
		return nil, opError(op, qp.name(), ErrClosed)
	}
	defer qp.release()
	if len(wrs) == 0 {
		return nil, opError(op, qp.name(), fmt.Errorf("no work requests: %w", syscall.EINVAL))
	}
	qp.postMu.Lock()
	defer qp.postMu.Unlock()
	batch, maxSGE, _ := qp.raw.Batch()
	if len(wrs) > math.MaxInt32/max(maxSGE, 1) {
		return nil, opError(op, qp.name(), fmt.Errorf("%d requests of %d SGEs: %w", len(wrs), maxSGE, syscall.E2BIG))
	}
	raw, err := cgo.NewSendList(len(wrs), maxSGE)
	if err != nil {
		return nil, opError(op, qp.name(), err)
	}
	l := &SendList{listLock: listLock{n: len(wrs)}, qp: qp, raw: raw, maxSGE: max(maxSGE, 1)}
	l.mrs = make(listRegions, len(wrs)*l.maxSGE)
	qp.children.Add(1)
	for base := 0; base < len(wrs); base += batch {
		if err := l.fill(base, wrs[base:min(base+batch, len(wrs))], maxSGE); err != nil {
			qp.releaseHeld()
			l.free()
			return nil, opError(op, qp.name(), err)
		}
	}
	qp.releaseHeld()
	return l, nil
}

// fill builds chain into the list's requests from base on, through the
// QP's post scratch.
func (l *SendList) fill(base int, chain []SendWR, maxSGE int) error {
	for i := range chain {
		if err := l.build(base, i, &chain[i], maxSGE); err != nil {
			return fmt.Errorf("work request %d: %w", base+i, err)
		}
	}
	return l.raw.Fill(l.qp.raw, base, len(chain))
}

// build validates wr, stores it as request i of the QP's next chain (base+i
// of the list) and keeps the AH and the regions it names from closing while
// the list lives.
func (l *SendList) build(base, i int, wr *SendWR, maxSGE int) error {
	qp := l.qp
	if wr.Opcode == WRBindMW {
		return fmt.Errorf("a bind request in a send list (post it with PostSend): %w", syscall.EINVAL)
	}
	if invalidates(wr) {
		// Each post would invalidate the same rkey again.
		return fmt.Errorf("an invalidate in a send list (post it with PostSend): %w", syscall.EINVAL)
	}
	var regions regionCache
	if err := qp.checkSend(wr, maxSGE, &regions); err != nil {
		return err
	}
	for j, sge := range wr.SGL {
		if sge.Length == 0 {
			continue
		}
		mr, err := qp.heldRegion(sge)
		if err != nil {
			return fmt.Errorf("SGE %d: %w", j, err)
		}
		mr.pinList(1)
		l.mrs[(base+i)*l.maxSGE+j] = mr
	}
	if wr.AH != nil {
		wr.AH.children.Add(1)
		l.ahs = append(l.ahs, wr.AH)
	}
	raw := wr.raw()
	qp.raw.SetSend(i, &raw, wr.SGL)
	return nil
}

// Len returns the number of requests in the list.
func (l *SendList) Len() int {
	if l == nil {
		return 0
	}
	return l.n
}

// lock locks the list for a call on request i (of 0 … Len()-1), or on the
// first i requests when first.
func (l *SendList) lock(op string, i int, first bool) error {
	if l == nil {
		return opError(op, "", ErrClosed)
	}
	return l.listLock.lock(op, l, l.qp != nil, i, first)
}

func (l *SendList) name() string { return l.qp.name() }

// change applies a change to request i under the list's lock; when apply
// reports that the request cannot take it, change fails with EINVAL: the
// request has no such field, as lacks says.
func (l *SendList) change(op string, i int, lacks string, apply func() bool) error {
	if err := l.lock(op, i, false); err != nil {
		return err
	}
	ok := apply()
	l.mu.Unlock()
	if !ok {
		return opError(op, l.qp.name(), fmt.Errorf("request %d has no %s: %w", i, lacks, syscall.EINVAL))
	}
	return nil
}

// SetID sets the ID of request i, for the completions of later posts.
func (l *SendList) SetID(i int, id uint64) error {
	return l.change("set send list ID", i, "ID", func() bool { l.raw.SetID(i, id); return true })
}

// SetFlags sets the flags of request i for later posts; an unknown flag,
// or on siw a fence on an RDMA read, fails with EINVAL. Making it inline
// fails with EINVAL when it is not a send or an RDMA write, its entries
// hold more than the QP's inline size, or lie in a region at another IOVA
// than its memory's (RegMRAt).
func (l *SendList) SetFlags(i int, flags SendFlags) error {
	const op = "set send list flags"
	if err := l.lock(op, i, false); err != nil {
		return err
	}
	defer l.mu.Unlock()
	if err := l.qp.checkFlags(WROpcode(l.raw.Opcode(i)), flags); err != nil {
		return opError(op, l.qp.name(), fmt.Errorf("request %d: %w", i, err))
	}
	if flags&SendInline != 0 {
		if opc := WROpcode(l.raw.Opcode(i)); !carriesInline(opc) {
			return opError(op, l.qp.name(), fmt.Errorf("request %d: %w", i, errInlineOpcode(opc)))
		}
		var total uint64
		for _, sge := range l.raw.SGL(i) {
			total += uint64(sge.Length)
		}
		if limit := uint64(l.qp.cap.MaxInlineData); total > limit {
			return opError(op, l.qp.name(), fmt.Errorf("request %d: %d bytes inline, the QP takes %d: %w", i, total, limit, syscall.EINVAL))
		}
		// The entries' regions are held open by the list.
		for _, mr := range l.mrs[i*l.maxSGE : (i+1)*l.maxSGE] {
			if mr != nil {
				if err := mr.inlineFrom(); err != nil {
					return opError(op, l.qp.name(), fmt.Errorf("request %d: %w", i, err))
				}
			}
		}
	}
	l.raw.SetFlags(i, uint32(flags))
	return nil
}

// SetRemote sets the remote address and rkey of request i, an RDMA read or
// write or an atomic (EINVAL for other opcodes).
func (l *SendList) SetRemote(i int, addr uint64, rkey uint32) error {
	return l.change("set send list remote", i, "remote memory", func() bool { return l.raw.SetRemote(i, addr, rkey) })
}

// SetImm sets the immediate data of request i, a send or RDMA write with
// immediate (EINVAL for other opcodes).
func (l *SendList) SetImm(i int, imm uint32) error {
	return l.change("set send list immediate", i, "immediate data", func() bool { return l.raw.SetImm(i, imm) })
}

// SetSGE sets scatter/gather entry j of request i, one of the entries it
// was built with (EINVAL beyond them). As in NewSendList, sge must lie
// inside an open region of the QP's PD, and an inline request's entries
// fit the QP's inline size and lie in regions at their memory's address;
// of a request's several entries none may be empty.
func (l *SendList) SetSGE(i, j int, sge SGE) error {
	const op = "set send list SGE"
	if err := l.lock(op, i, false); err != nil {
		return err
	}
	defer l.mu.Unlock()
	sgl := l.raw.SGL(i)
	if j < 0 || j >= len(sgl) {
		return opError(op, l.qp.name(), fmt.Errorf("request %d has no such scatter/gather entry: %w", i, syscall.EINVAL))
	}
	if len(sgl) > 1 && sge.Length == 0 {
		return opError(op, l.qp.name(), fmt.Errorf("request %d has %d entries, none of which may be empty: %w", i, len(sgl), syscall.EINVAL))
	}
	if opc := WROpcode(l.raw.Opcode(i)); (opc == WRAtomicCmpAndSwp || opc == WRAtomicFetchAndAdd) && sge.Length != 8 {
		return opError(op, l.qp.name(), fmt.Errorf("request %d is an atomic, whose entry is 8 bytes: %w", i, syscall.EINVAL))
	}
	if l.raw.Flags(i)&uint32(SendInline) != 0 {
		total := uint64(sge.Length)
		for k, e := range sgl {
			if k != j {
				total += uint64(e.Length)
			}
		}
		if limit := uint64(l.qp.cap.MaxInlineData); total > limit {
			return opError(op, l.qp.name(), fmt.Errorf("request %d: %d bytes inline, the QP takes %d: %w", i, total, limit, syscall.EINVAL))
		}
	}
	var mr *MR
	if sge.Length > 0 {
		var err error
		mr, err = pinRegion(l.qp.pd, sge, func(mr *MR) error {
			if l.raw.Flags(i)&uint32(SendInline) != 0 {
				if err := mr.inlineFrom(); err != nil {
					return err
				}
			}
			if mr.atIOVA() && l.qp.cpuResult(WROpcode(l.raw.Opcode(i))) {
				return errAtIOVA(mr.base)
			}
			return nil
		})
		if err != nil {
			return opError(op, l.qp.name(), fmt.Errorf("request %d SGE %d: %w", i, j, err))
		}
	}
	k := i*l.maxSGE + j
	l.mrs.set(k, mr)
	l.raw.SetSGE(i, j, sge)
	return nil
}

// Post posts the list's first n requests (1 … Len()) as one chain
// (ibv_post_send). It allocates nothing on success. A refusal is a
// *PostError: the requests before its Index were posted.
func (l *SendList) Post(n int) error { return l.PostChains(n, n) }

// PostChains posts the list's first n requests (1 … Len()) as consecutive
// chains of per requests (per ≥ 1; the last chain is shorter when per does
// not divide n), one ibv_post_send each, all in one call into C: what a
// program posting a chain of per requests at a time does (perftest's
// post list, -l), a doorbell per chain, without a crossing per chain.
// PostChains(n, 1) posts the requests one by one. It allocates nothing on
// success. A refusal stops it and is a *PostError: the requests before its
// Index were posted. Where each post is a system call that sends (siw,
// rxe), many posts in one call can keep the goroutine in C for more than
// the 10 ms after which the runtime takes its processor (see the package
// documentation).
func (l *SendList) PostChains(n, per int) error {
	const op = "ibv_post_send"
	if err := l.lock(op, n, true); err != nil {
		return err
	}
	if per < 1 {
		l.mu.Unlock()
		return opError(op, l.qp.name(), fmt.Errorf("chains of %d requests: %w", per, syscall.EINVAL))
	}
	// The QP is open: it does not close while the list lives.
	bad, err := l.raw.Post(l.qp.raw, n, min(per, n))
	l.mu.Unlock()
	if err != nil {
		return &PostError{Op: op, Index: bad, Err: err}
	}
	return nil
}

// PostAfter busy-polls cq as CQ.BusyPoll does and, as soon as completions
// are in wcs, posts the list's first n requests (1 … Len()) as one chain in
// the same call into C: the turnaround of a ping-pong (a message in, the
// reply out) or of dependent operations (the next read once one completes),
// with no return to Go between the completion and the post. It returns how
// many completions are in wcs. The post does not look at them: a failed
// completion is returned like any other, after the post. A refused post is
// a *PostError, returned with the completions' count. When ctx is done or
// cq is closed before a completion arrives, nothing is posted. It allocates
// nothing.
func (l *SendList) PostAfter(ctx context.Context, cq *CQ, wcs []WorkCompletion, n int) (int, error) {
	return l.postAfter(ctx, cq, wcs, nil, 0, n)
}

// postAfter is PostAfter and, with recv, RepostAfter. A closed list's,
// receive list's or CQ's ErrClosed comes first, as for any call.
func (l *SendList) postAfter(ctx context.Context, cq *CQ, wcs []WorkCompletion, recv *RecvList, nrecv, n int) (int, error) {
	const op = "ibv_post_send"
	if l == nil {
		return 0, opError(op, "", ErrClosed)
	}
	var w busyWait
	for {
		if err := l.lockOpen(op, l, l.qp != nil); err != nil {
			return 0, err
		}
		var raw cgo.RecvList
		if recv != nil {
			if err := recv.lockOpen(recv.postOp(), recv, recv.owner != nil); err != nil {
				l.mu.Unlock()
				return 0, err
			}
			raw = recv.raw
		}
		if ctx == nil {
			l.unlock(recv)
			return 0, cq.nilContext(op)
		}
		if cq == nil || !cq.acquire() {
			l.unlock(recv)
			return 0, cq.closedError("ibv_poll_cq")
		}
		err := l.span(op, l, n, true)
		if err == nil && recv != nil {
			err = recv.span(recv.postOp(), recv, nrecv, true)
		}
		if err == nil && len(wcs) == 0 {
			err = opError("ibv_poll_cq", cq.name(), fmt.Errorf("no room for completions: %w", syscall.EINVAL))
		}
		if err != nil {
			cq.release()
			l.unlock(recv)
			return 0, err
		}
		// The QP and recv's queue are open: they do not close while their
		// lists live.
		got, bad, inRecv, err := l.raw.PostAfterPoll(l.qp.raw, cq.raw, wcs, busySpins, n, raw, nrecv)
		cq.release()
		l.unlock(recv)
		cq.polled(wcs[:got])
		switch {
		case err != nil && inRecv:
			return got, &PostError{Op: recv.postOp(), Index: bad, Err: err}
		case err != nil && got > 0:
			return got, &PostError{Op: op, Index: bad, Err: err}
		case err != nil:
			return 0, opError("ibv_poll_cq", cq.name(), err)
		case got > 0:
			return got, nil
		}
		if err := ctx.Err(); err != nil {
			return 0, opError("ibv_poll_cq", cq.name(), err)
		}
		w.empty()
	}
}

// unlock unlocks the list and recv, when not nil.
func (l *SendList) unlock(recv *RecvList) {
	if recv != nil {
		recv.mu.Unlock()
	}
	l.mu.Unlock()
}

// Close frees the list and lets its QP, AHs and memory regions close. Requests it posted stay
// posted.
func (l *SendList) Close() error {
	if l == nil {
		return opError("free send list", "", ErrClosed)
	}
	if err := l.lockOpen("free send list", l, l.qp != nil); err != nil {
		return err
	}
	defer l.mu.Unlock()
	l.free()
	return nil
}

// free frees the C memory and lets the QP and AHs close.
func (l *SendList) free() {
	l.raw.Free()
	l.qp.children.Add(-1)
	for _, ah := range l.ahs {
		ah.children.Add(-1)
	}
	l.ahs = nil
	l.mrs.release()
	l.closed = true
}
