package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/go-rdma/rdma/verbs"
)

// recvRing is the number of receives send_lat keeps posted: perftest's
// receive depth for sends (DEF_RX_SEND), which its send_lat also leaves
// unposted again at the end of a size.
const recvRing = 512

// callBudget is about how long one call into C of write_bw's posts lasts.
// On siw and rxe each post's doorbell is a system call in which the kernel
// sends the request: some 150 µs for 2 B, and on rxe 4 ms for 64 KiB,
// under emulation. A send queue's worth of posts in one call lasted 15 ms
// and more, and the runtime's monitor thread takes the processor of a call
// into C it finds twice, 10 ms apart (retake), after which it wakes every
// 20 µs again for tens of milliseconds, each wake-up taking a vCPU from a
// poller (BENCHMARKS.md, "Long calls into C").
const callBudget = time.Millisecond

// callSize is how many posts (chains of -l requests) write_bw makes in its
// next call into C: a number whose calls take between a quarter of
// callBudget and all of it, as measured. It starts at one post per call,
// halves after a call that took longer than the budget, and doubles after
// a full call (as many posts as its size) that took less than a quarter of
// it, up to most: on a device whose posts cost a hundred nanoseconds, all
// the posts after a poll go in one call (with -t 128 -l 1 -Q 100, the 100
// after each poll; up to 128).
type callSize struct {
	n, most int
	budget  int64 // cycles
}

// newCallSize starts at one post per call, for up to most.
func newCallSize(most int) *callSize {
	return &callSize{n: 1, most: most, budget: int64(float64(callBudget) * cyclesPerNS())}
}

// post posts list's first n requests in chains of per (SendList.PostChains)
// and adapts the size to what the call took; it returns the time (cycles)
// after the call.
func (c *callSize) post(list *verbs.SendList, n, per int) (int64, error) {
	t0 := cycles()
	err := list.PostChains(n, per)
	now := cycles()
	c.took((n+per-1)/per, now-t0)
	return now, err
}

// took adapts the size to a call of n posts that took d cycles.
func (c *callSize) took(n int, d int64) {
	switch {
	case d > c.budget && c.n > 1:
		c.n /= 2
	case d < c.budget/4 && n == c.n && c.n < c.most:
		c.n = min(2*c.n, c.most)
	}
}

// bwResult is one write_bw size: perftest's BW average and MsgRate.
type bwResult struct {
	Mode    string  `json:"mode"`
	Bytes   int     `json:"bytes"`
	Iters   int     `json:"iterations"`
	BWAvg   float64 `json:"bw_avg_MBps"`
	MsgRate float64 `json:"msg_rate_Mpps"`
}

// bwParams are write_bw's parameters: iterations per size, send queue
// depth, requests per post, CQ moderation, the largest inline message, and
// whether to warm up before the measured run.
type bwParams struct {
	iters, txDepth, postList, cqMod, inline int
	warmUp                                  bool
}

// writeBW posts p.iters RDMA writes of size bytes, at most p.txDepth
// outstanding, p.postList per post, one signaled every p.cqMod (and the
// last), as perftest's ib_write_bw does; it returns the elapsed time from the
// first post to the last completion. Like perftest it builds its requests
// once (a verbs.SendList, here of a send queue's worth of requests) and
// changes only their flags between posts; the posts that fit in the send
// queue after a poll, each an ibv_post_send of p.postList requests as
// perftest makes them, go in calls into C (SendList.PostChains) of as
// many posts as take about callBudget (callSize). With p.warmUp it first
// runs warmUp. The loop yields through y.
func writeBW(ctx context.Context, c *conn, size int, p bwParams, y *yielder) (time.Duration, error) {
	iters, txDepth, postList, cqMod := p.iters, p.txDepth, p.postList, p.cqMod
	wrs := make([]verbs.SendWR, txDepth/postList*postList)
	sge := make([]verbs.SGE, len(wrs))
	for i := range wrs {
		sge[i] = c.mr.SGE(c.half, size)
		wrs[i] = verbs.SendWR{Opcode: verbs.WRRDMAWrite, SGL: sge[i : i+1], RemoteAddr: c.raddr, RKey: c.rkey}
		if size <= p.inline {
			wrs[i].Flags = verbs.SendInline
		}
	}
	base := wrs[0].Flags
	list, err := c.qp.NewSendList(wrs)
	if err != nil {
		return 0, err
	}
	defer list.Close()
	wcs := make([]verbs.WorkCompletion, 16)
	calls := newCallSize(len(wrs) / postList)
	if p.warmUp {
		if err := warmUp(ctx, c, list, base, p, wcs, calls); err != nil {
			return 0, fmt.Errorf("warm-up: %w", err)
		}
	}
	// signaled[i] is whether the list's request i is signaled now.
	signaled := make([]bool, len(wrs))
	var posted, completed int
	start := time.Now()
	for spins := 0; completed < iters; spins++ {
		// The posts perftest would make now, one after the other, in
		// calls into C of calls.n posts.
		for {
			n := 0
			for k := 0; k < calls.n && posted+n < iters && posted+n+postList-completed <= txDepth; k++ {
				n += min(postList, iters-posted-n)
			}
			if n == 0 {
				break
			}
			for i := range n {
				want := (posted+i+1)%cqMod == 0 || posted+i+1 == iters
				if want != signaled[i] {
					flags := base
					if want {
						flags |= verbs.SendSignaled
					}
					if err := list.SetFlags(i, flags); err != nil {
						return 0, err
					}
					signaled[i] = want
				}
			}
			now, err := calls.post(list, n, postList)
			if err != nil {
				return 0, err
			}
			posted += n
			y.at(now)
		}
		y.at(cycles())
		n, err := c.scq.Poll(wcs)
		if err != nil {
			return 0, err
		}
		for _, wc := range wcs[:n] {
			if err := wc.Err(); err != nil {
				return 0, err
			}
			// A signaled completion covers the unsignaled requests before it.
			if completed+cqMod <= posted {
				completed += cqMod
			} else {
				completed = posted
			}
		}
		if spins&0xffff == 0xffff && ctx.Err() != nil {
			return 0, ctx.Err()
		}
	}
	return time.Since(start), nil
}

// warmUp posts before the measured run, as perftest's --perform_warm_up
// does: one post of p.postList requests, or p.txDepth posts of one request
// when p.postList is 1, each post's last request signaled, and waits for
// their completions; it leaves the list's flags at base. The measured run
// then does not time the first use of the path's code and memory, which
// costs milliseconds under emulation. Its calls into C are sized by calls,
// which they adapt for the measured run.
func warmUp(ctx context.Context, c *conn, list *verbs.SendList, base verbs.SendFlags, p bwParams, wcs []verbs.WorkCompletion, calls *callSize) error {
	n := p.postList
	if n == 1 {
		n = p.txDepth
	}
	for i := p.postList - 1; i < n; i += p.postList {
		if err := list.SetFlags(i, base|verbs.SendSignaled); err != nil {
			return err
		}
	}
	for left := n; left > 0; {
		k := min(left, calls.n*p.postList)
		if _, err := calls.post(list, k, p.postList); err != nil {
			return err
		}
		left -= k
	}
	for range n / p.postList {
		if err := pollOne(ctx, c.scq, wcs); err != nil {
			return err
		}
	}
	for i := p.postList - 1; i < n; i += p.postList {
		if err := list.SetFlags(i, base); err != nil {
			return err
		}
	}
	return nil
}

// pollOne busy-polls cq until one completion arrives and checks it.
func pollOne(ctx context.Context, cq *verbs.CQ, wcs []verbs.WorkCompletion) error {
	if _, err := cq.BusyPoll(ctx, wcs[:1]); err != nil {
		return err
	}
	return wcs[0].Err()
}

// lastByte is the word holding byte off of buf, for an atomic (volatile)
// load of memory the device writes behind the program's back, and the
// byte's shift in it.
func lastByte(buf []byte, off int) (*uint32, uint) {
	w := off &^ 3
	return (*uint32)(unsafe.Pointer(&buf[w])), uint(off-w) * 8
}

// pingPong runs iters round trips of size bytes in mode (send_lat,
// write_lat) and records the time (cycles) of each post, as perftest's
// tposted, read as the post returns (perftest reads it just before; the
// differences of consecutive stamps, which are what it reports, are the
// same round trips). The client posts first; the server first waits for the
// client's message. Each turn does perftest's work: wait for the peer's
// message, post the reply and poll its completion; send_lat also reposts
// the receive it consumed, between the two as perftest does, but for the
// last ring's worth, as perftest leaves its last receive depth. send_lat
// waits, reposts and replies in one call into C (SendList.RepostAfter,
// the receive from a verbs.RecvList built once); write_lat spins on the
// buffer's last byte. The loop yields through y.
func pingPong(ctx context.Context, c *conn, mode string, size, iters, inline int, server bool, stamps []int64, y *yielder) error {
	buf := c.buf.Bytes()
	sge := []verbs.SGE{c.mr.SGE(c.half, size)}
	wr := []verbs.SendWR{{Opcode: verbs.WRSend, Flags: verbs.SendSignaled, SGL: sge}}
	if mode == modeWriteLat {
		wr[0].Opcode, wr[0].RemoteAddr, wr[0].RKey = verbs.WRRDMAWrite, c.raddr, c.rkey
	}
	if size <= inline {
		wr[0].Flags |= verbs.SendInline
	}
	list, err := c.qp.NewSendList(wr)
	if err != nil {
		return err
	}
	defer list.Close()
	recv, err := c.qp.NewRecvList(recvWRs(c, 1))
	if err != nil {
		return err
	}
	defer recv.Close()
	poll, pollShift := lastByte(buf, size-1)
	post := &buf[c.half+size-1]
	wcs := make([]verbs.WorkCompletion, 1)
	var scnt, rcnt, owed int
	for scnt < iters || rcnt < iters {
		wait, send := rcnt < iters && !(scnt == 0 && !server), scnt < iters
		if wait {
			rcnt++
		}
		if send {
			*post = byte(scnt + 1)
		}
		switch {
		case wait && mode == modeSendLat:
			var err error
			repost := rcnt+recvRing <= iters
			switch {
			case send && repost:
				_, err = list.RepostAfter(ctx, c.rcq, wcs, recv, 1, 1)
			case send:
				_, err = list.PostAfter(ctx, c.rcq, wcs, 1)
			default:
				_, err = c.rcq.BusyPoll(ctx, wcs)
			}
			if !send || !repost {
				owed++
			}
			if err == nil {
				err = wcs[0].Err()
			}
			if err != nil {
				return fmt.Errorf("receive %d: %w", rcnt, err)
			}
		default:
			if wait {
				if err := waitByte(ctx, c.cm.Disconnected(), poll, pollShift, rcnt); err != nil {
					return err
				}
			}
			if send {
				if err := list.Post(1); err != nil {
					return err
				}
			}
		}
		if send {
			stamps[scnt] = cycles()
			y.at(stamps[scnt])
			scnt++
		}
		if send {
			if err := pollOne(ctx, c.scq, wcs); err != nil {
				return fmt.Errorf("send %d: %w", scnt, err)
			}
		}
	}
	// The receives left unposted, back for the next size (-a).
	if owed > 0 {
		return c.qp.PostRecv(recvWRs(c, owed))
	}
	return nil
}

// waitByte spins until the byte at shift of *word is byte(n), the mark of
// write_lat's n-th write, ctx is done or down is closed (the peer
// disconnected: no completion tells a memory poll).
func waitByte(ctx context.Context, down <-chan struct{}, word *uint32, shift uint, n int) error {
	want := uint32(byte(n))
	for spins := 0; atomic.LoadUint32(word)>>shift&0xff != want; spins++ {
		if spins&0xffff == 0xffff {
			if err := ctx.Err(); err != nil {
				return err
			}
			select {
			case <-down:
				return fmt.Errorf("write %d: the peer disconnected", n)
			default:
			}
		}
	}
	return nil
}

// readLat runs iters RDMA reads of size bytes one at a time and records the
// time (cycles) of each post, read as the post returns. Each read but the
// first is posted in the call that waits for the one before it
// (SendList.PostAfter). The loop yields through y.
func readLat(ctx context.Context, c *conn, size, iters int, stamps []int64, y *yielder) error {
	sge := []verbs.SGE{c.mr.SGE(0, size)}
	list, err := c.qp.NewSendList([]verbs.SendWR{{Opcode: verbs.WRRDMARead, Flags: verbs.SendSignaled, SGL: sge,
		RemoteAddr: c.raddr + uint64(c.half), RKey: c.rkey}})
	if err != nil {
		return err
	}
	defer list.Close()
	wcs := make([]verbs.WorkCompletion, 1)
	for i := range iters {
		if i == 0 {
			err = list.Post(1)
		} else if _, err = list.PostAfter(ctx, c.scq, wcs, 1); err == nil {
			err = wcs[0].Err()
		}
		if err != nil {
			return fmt.Errorf("read %d: %w", i, err)
		}
		stamps[i] = cycles()
		y.at(stamps[i])
	}
	if err := pollOne(ctx, c.scq, wcs); err != nil {
		return fmt.Errorf("read %d: %w", iters, err)
	}
	return nil
}

// postRecvs fills the receive queue of a send_lat connection.
func postRecvs(c *conn) error { return c.qp.PostRecv(recvWRs(c, recvRing)) }

// recvWRs are n receives of a whole receive region each.
func recvWRs(c *conn, n int) []verbs.RecvWR {
	wrs := make([]verbs.RecvWR, n)
	for i := range wrs {
		wrs[i] = verbs.RecvWR{ID: uint64(i), SGL: []verbs.SGE{c.mr.SGE(0, c.half)}}
	}
	return wrs
}
