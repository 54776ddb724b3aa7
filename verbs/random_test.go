package verbs_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-rdma/rdma/internal/testbed"
	"github.com/go-rdma/rdma/verbs"
)

// TestRandomPosts posts random lists of send requests, through PostSend and
// through send lists, on connected RC QPs and on UD QPs: valid requests
// mixed with the bad input validation knows (unknown opcodes and flags, too
// many entries, entries outside or beyond their region, regions closed or
// of another PD, inline data over the limit or from anywhere, atomics of
// the wrong size, binds without a window, AHs on RC, missing or closed ones
// on UD) and with requests the device refuses only as it executes them
// (garbage keys, addresses and lengths; on siw only local ones, see
// request). Whatever the mix, the post
// returns nil or a *PostError, without a crash; the requests before the
// error's Index were posted and complete (every request is signaled),
// exactly once each, and the others never do; NewSendList refuses a list
// without posting any of it. A request that breaks the QP ends its epoch;
// the next one connects a fresh pair. It found the refusals that keep rxe
// and siw from crashing the kernel or losing requests (see
// TestInvalidateUnboundWindow, TestPostRefusesWhatProvidersMishandle).
// RDMA_TEST_SEED replays a run, and
// RDMA_TEST_TRACE=1 logs every post before it is made (a request that
// crashes the kernel ends the log).
func TestRandomPosts(t *testing.T) {
	rng := rand.New(rand.NewPCG(testbed.Seed(t), 0x5eed))
	trace := os.Getenv("RDMA_TEST_TRACE") == "1"
	for _, typ := range []verbs.QPType{verbs.QPTypeRC, verbs.QPTypeUD} {
		t.Run(typ.String(), func(t *testing.T) {
			ctx := openTestDevice(t)
			dev, err := ctx.QueryDevice()
			if err != nil {
				t.Fatal(err)
			}
			if typ == verbs.QPTypeUD && dev.MaxAH == 0 {
				testbed.Limitation(t, "%s: max_ah is 0: no address handles, so no UD", ctx.Name())
			}
			const rounds = 300
			for done, epoch := 0, 0; done < rounds; epoch++ {
				if epoch == 60 {
					t.Fatalf("%d epochs for %d rounds: nearly every round broke its QP", epoch, done)
				}
				t.Run(fmt.Sprintf("epoch%d", epoch), func(t *testing.T) {
					done += randomEpoch(t, newRandomEnv(t, ctx, dev, rng, trace, typ), rounds-done)
				})
				if t.Failed() {
					return
				}
			}
		})
	}
}

// randomEnv is an epoch's connected pair (a posts, b receives) and the
// objects its random requests name, good and bad.
type randomEnv struct {
	rng         *rand.Rand
	trace       bool
	iwarp       bool
	a, b        *end
	ud          bool
	maxSGE      int
	other       *verbs.MR // a region of another PD
	closed      verbs.SGE // an entry of a region since closed
	ah, otherAH *verbs.AH // an AH of a's PD to the device (refused on RC), one of b's PD
	closedAH    *verbs.AH
	mw          *verbs.MW // a type 2 window of a's PD, where the device has them
	mwMR        *verbs.MR // a region of a's buffer it may bind
	fresh       *verbs.MW // a type 2 window of b's PD never bound
	nextID      uint64
	recvsPosted int // b's receives not seen completing
}

func newRandomEnv(t *testing.T, ctx *verbs.Context, dev *verbs.DeviceAttr, rng *rand.Rand, trace bool, typ verbs.QPType) *randomEnv {
	t.Helper()
	e := &randomEnv{rng: rng, trace: trace, iwarp: isIWARP(t, ctx), ud: typ == verbs.QPTypeUD}
	e.a = newEndWith(t, ctx, 4096, endOpts{typ: typ})
	e.b = newEndWith(t, ctx, 4096, endOpts{typ: typ})
	if e.ud {
		readyUD(t, e.a.qp)
		readyUD(t, e.b.qp)
	} else {
		connect(t, ctx, e.a, e.b)
	}
	e.maxSGE = min(4, int(dev.MaxSGE))
	pd, err := ctx.AllocPD()
	if err != nil {
		t.Fatal(err)
	}
	buf, err := verbs.NewBuffer(4096, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e.other, err = pd.RegMR(buf, 0, 0, verbs.AccessLocalWrite); err != nil {
		t.Fatal(err)
	}
	closed, err := e.a.pd.RegMR(e.a.buf, 0, 0, verbs.AccessLocalWrite)
	if err != nil {
		t.Fatal(err)
	}
	e.closed = closed.SGE(0, 64)
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	if dev.MaxAH > 0 {
		gid := testGID(t, ctx)
		attr := verbs.AHAttr{IsGlobal: true, PortNum: 1, GRH: verbs.GlobalRoute{DGID: gid.GID, SGIDIndex: uint8(gid.Index), HopLimit: 64}}
		if e.ah, err = e.a.pd.CreateAH(&attr); err != nil {
			t.Fatal(err)
		}
		if e.otherAH, err = e.b.pd.CreateAH(&attr); err != nil {
			t.Fatal(err)
		}
		if e.closedAH, err = e.a.pd.CreateAH(&attr); err != nil {
			t.Fatal(err)
		}
		if err := e.closedAH.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if dev.MaxMW > 0 && !e.ud {
		if e.mw, err = e.a.pd.AllocMW(verbs.MWType2); err != nil {
			t.Fatal(err)
		}
		if e.mwMR, err = e.a.pd.RegMR(e.a.buf, 0, 0, verbs.AccessLocalWrite|verbs.AccessMWBind); err != nil {
			t.Fatal(err)
		}
		if e.fresh, err = e.b.pd.AllocMW(verbs.MWType2); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		objs := []interface{ Close() error }{e.other, buf, pd}
		if e.ah != nil {
			objs = append(objs, e.otherAH, e.ah)
		}
		if e.mw != nil {
			objs = append([]interface{ Close() error }{e.mw, e.mwMR, e.fresh}, objs...)
		}
		for _, o := range objs {
			if err := o.Close(); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	e.topUp(t)
	return e
}

// topUp keeps b's receive queue full, so that no send waits for a receive.
func (e *randomEnv) topUp(t *testing.T) {
	t.Helper()
	wcs := make([]verbs.WorkCompletion, 64)
	n, err := e.b.cq.Poll(wcs)
	if err != nil {
		t.Fatal(err)
	}
	e.recvsPosted -= n
	wrs := make([]verbs.RecvWR, 64-e.recvsPosted)
	for i := range wrs {
		wrs[i] = verbs.RecvWR{ID: 1 << 32, SGL: []verbs.SGE{e.b.mr.SGE(0, 4096)}}
	}
	if len(wrs) == 0 {
		return
	}
	if err := e.b.qp.PostRecv(wrs); err != nil {
		t.Fatal(err)
	}
	e.recvsPosted += len(wrs)
}

// randomEpoch runs up to rounds rounds on e and returns how many it ran: it
// stops after a round with a failed completion, whose QP is then in error.
func randomEpoch(t *testing.T, e *randomEnv, rounds int) int {
	pending := map[uint64]verbs.SendWR{}
	for round := 1; round <= rounds; round++ {
		wrs := make([]verbs.SendWR, 1+e.rng.IntN(8))
		for i := range wrs {
			wrs[i] = e.request()
		}
		posted := e.post(t, wrs)
		for _, wr := range wrs[:posted] {
			pending[wr.ID] = wr
		}
		broke := false
		for _, wc := range e.completions(t, posted, wrs) {
			wr, ok := pending[wc.WRID]
			if !ok {
				t.Fatalf("round %d: completion %+v of no posted request (posted %d of %+v)", round, wc, posted, wrs)
			}
			delete(pending, wc.WRID)
			if e.trace {
				t.Logf("completion %d: %v", wc.WRID, wc.Status)
			}
			if wc.Status != verbs.WCSuccess {
				t.Logf("round %d: request %+v completed with %v", round, wr, wc.Err())
				broke = true
			}
		}
		if broke {
			// The QP is in error: flushed requests complete at once, and a
			// request posted but refused would show up by now.
			time.Sleep(50 * time.Millisecond)
			expectEmpty(t, e.a.cq)
			return round
		}
		e.topUp(t)
	}
	time.Sleep(50 * time.Millisecond)
	expectEmpty(t, e.a.cq)
	return rounds
}

// completions returns the next n completions of a's CQ, failing t with the
// round's requests and what completed of them after 10 s.
func (e *randomEnv) completions(t *testing.T, n int, wrs []verbs.SendWR) []verbs.WorkCompletion {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wcs := make([]verbs.WorkCompletion, n)
	for got := 0; got < n; {
		m, err := e.a.cq.PollWait(ctx, wcs[got:])
		if err != nil {
			t.Fatalf("%d of %d completions (%+v): %v; the round's requests: %+v", got, n, wcs[:got], err, wrs)
		}
		got += m
	}
	return wcs
}

// post posts wrs through PostSend or, one time in three, a send list, and
// returns how many were posted.
func (e *randomEnv) post(t *testing.T, wrs []verbs.SendWR) int {
	t.Helper()
	var err error
	list := e.rng.IntN(3) == 0
	if e.trace {
		t.Logf("posting (send list: %v) %+v", list, wrs)
	}
	if list {
		list, lerr := e.a.qp.NewSendList(wrs)
		if lerr != nil {
			var pe *verbs.PostError
			if errors.As(lerr, &pe) {
				t.Fatalf("NewSendList(%+v): %v: a refused list is no post", wrs, lerr)
			}
			return 0
		}
		defer func() {
			if err := list.Close(); err != nil {
				t.Fatal(err)
			}
		}()
		err = list.Post(list.Len())
	} else {
		err = e.a.qp.PostSend(wrs)
	}
	if e.trace {
		t.Logf("post: %v", err)
	}
	if err == nil {
		return len(wrs)
	}
	var pe *verbs.PostError
	if !errors.As(err, &pe) {
		t.Fatalf("post of %+v: %v is no *PostError", wrs, err)
	}
	if pe.Index < 0 || pe.Index >= len(wrs) {
		t.Fatalf("post of %d requests: %v: index out of range", len(wrs), err)
	}
	return pe.Index
}

// chance reports true with probability 1/n.
func (e *randomEnv) chance(n int) bool { return e.rng.IntN(n) == 0 }

// request makes a random signaled request, mostly valid.
func (e *randomEnv) request() verbs.SendWR {
	e.nextID++
	wr := verbs.SendWR{ID: e.nextID, Flags: verbs.SendSignaled, Imm: e.rng.Uint32(),
		CompareAdd: e.rng.Uint64(), Swap: e.rng.Uint64()}
	switch {
	case e.chance(20):
		wr.Opcode = []verbs.WROpcode{10, 11, 0xff, 1 << 31}[e.rng.IntN(4)]
	case e.ud && !e.chance(10):
		wr.Opcode = []verbs.WROpcode{verbs.WRSend, verbs.WRSendWithImm}[e.rng.IntN(2)]
	default:
		wr.Opcode = verbs.WROpcode(e.rng.IntN(10))
	}
	for _, f := range []verbs.SendFlags{verbs.SendFence, verbs.SendSolicited, verbs.SendInline, 1 << 4, 1 << 7} {
		if f <= verbs.SendInline && e.chance(4) || f > verbs.SendInline && e.chance(40) {
			wr.Flags |= f
		}
	}
	n := e.rng.IntN(3)
	if e.chance(10) {
		n = e.rng.IntN(e.maxSGE + 2)
	}
	if wr.Opcode == verbs.WRAtomicCmpAndSwp || wr.Opcode == verbs.WRAtomicFetchAndAdd {
		n = 1
	}
	for range n {
		wr.SGL = append(wr.SGL, e.sge(wr.Opcode))
	}
	wr.RemoteAddr, wr.RKey = e.b.mr.Addr()+uint64(e.rng.IntN(512))*8, e.b.mr.RKey()
	switch {
	case e.iwarp:
		// siw reports a request the peer refuses (a TERMINATE) by no
		// completion at all, and completes nothing posted after it: the
		// peer's side stays valid, the message within its receive
		// buffer and the RDMA within its region.
		var total uint64
		for i := range wr.SGL {
			wr.SGL[i].Length = min(wr.SGL[i].Length, 800) // 5 entries fit the peer's 4096 bytes
			total += uint64(wr.SGL[i].Length)
		}
		wr.RemoteAddr = e.b.mr.Addr() + uint64(e.rng.IntN(max(4096-int(total), 0)+1))&^7
	case e.chance(15):
		wr.RemoteAddr, wr.RKey = e.rng.Uint64(), e.rng.Uint32()
	}
	if e.ud {
		wr.RemoteQPN, wr.RemoteQKey = e.b.qp.Num(), testQKey
		if e.chance(15) {
			wr.RemoteQPN, wr.RemoteQKey = e.rng.Uint32()&0xffffff, e.rng.Uint32()
		}
		wr.AH = e.ah
		switch e.rng.IntN(20) {
		case 0:
			wr.AH = nil
		case 1:
			wr.AH = e.otherAH
		case 2:
			wr.AH = e.closedAH
		}
	} else if e.ah != nil && e.chance(30) {
		wr.AH = e.ah
	}
	if e.mw != nil && (wr.Opcode == verbs.WRBindMW && !e.chance(5) || e.chance(30)) {
		wr.MW = e.mw
		wr.RKey = verbs.IncRKey(e.mw.RKey())
		if e.chance(10) {
			wr.RKey = e.rng.Uint32()
		}
		wr.Bind = verbs.MWBind{MR: e.mwMR, Addr: e.mwMR.Addr() + uint64(e.rng.IntN(4096)), Length: uint64(e.rng.IntN(4097)),
			Access: verbs.Access(e.rng.IntN(16)) & (verbs.AccessRemoteWrite | verbs.AccessRemoteRead | verbs.AccessRemoteAtomic)}
		switch e.rng.IntN(10) {
		case 0:
			wr.Bind.MR = e.a.mr // not registered for binding
		case 1:
			wr.Bind.MR = e.other
		case 2:
			wr.Bind.MR = nil
		}
	}
	switch {
	case wr.Opcode == verbs.WRLocalInv && e.mw != nil && !e.chance(3):
		wr.RKey = e.mw.RKey()
	case wr.Opcode == verbs.WRLocalInv:
		wr.RKey = e.rng.Uint32()
	case wr.Opcode == verbs.WRSendWithInv && e.fresh != nil:
		// Refused: the window was never bound. A send with invalidate
		// the peer's rxe executes and fails takes its QP to error after
		// acknowledging the send, and Linux 6.1's rxe then retries the
		// sender's next request for ever (see WRSendWithInv).
		wr.RKey = e.fresh.RKey()
	case wr.Opcode == verbs.WRSendWithInv:
		// siw, without windows, has no rkey to invalidate: one naming
		// a region leaves its QPs stuck after a while.
		wr.Opcode = verbs.WRSend
	}
	return wr
}

// sge makes a random entry for a request of op, mostly a valid one of a's
// region (8 bytes for atomics).
func (e *randomEnv) sge(op verbs.WROpcode) verbs.SGE {
	mr := e.a.mr
	switch e.rng.IntN(24) {
	case 0:
		return mr.SGE(4096-8, 64) // across the region's end
	case 1:
		return mr.SGE(e.rng.IntN(4096), 0)
	case 2:
		return e.other.SGE(0, 64)
	case 3:
		return e.closed
	case 4:
		return verbs.SGE{Addr: e.rng.Uint64(), Length: 1 + e.rng.Uint32N(1<<20), LKey: e.rng.Uint32()}
	case 5:
		return mr.SGE(0, 1<<31)
	case 6:
		return verbs.SGE{Addr: mr.Addr() + uint64(e.rng.IntN(4096)), Length: 8, LKey: e.rng.Uint32()}
	}
	if op == verbs.WRAtomicCmpAndSwp || op == verbs.WRAtomicFetchAndAdd {
		return mr.SGE(e.rng.IntN(512)*8, 8)
	}
	n := 1 + e.rng.IntN(64)
	if e.chance(8) {
		n = 1 + e.rng.IntN(4096)
	}
	return mr.SGE(e.rng.IntN(4096-n+1), n)
}

// TestRandomConcurrency runs random calls on shared objects from several
// goroutines for a while: posts and polls of a connected pair of RC QPs,
// send list posts and changes, region re-registrations, and Closes of
// regions, send lists, buffers, the CQ, the PD and one QP, which may
// succeed or be refused (EBUSY) at any point of the others' calls. Every
// call returns nil or a typed error (*OpError, *PostError), and nothing
// crashes or races (the test bed also runs it with -race); at the end
// everything closes, down to the context. RDMA_TEST_SEED replays a run's
// choices (not its timing).
func TestRandomConcurrency(t *testing.T) {
	dev := testbed.Device(t)
	seed := testbed.Seed(t)
	ctx, err := verbs.Open(dev)
	if err != nil {
		t.Fatal(err)
	}
	s := &shared{ctx: ctx}
	// Registered before connect's own clean-ups (rdmacm connectors on
	// iWARP), so that it runs after them.
	t.Cleanup(func() { s.closeAll(t) })
	if s.pd, err = ctx.AllocPD(); err != nil {
		t.Fatal(err)
	}
	if s.cq, err = ctx.CreateCQ(256, nil); err != nil {
		t.Fatal(err)
	}
	for i := range s.bufs {
		if s.bufs[i], err = verbs.NewBuffer(4096, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := range s.mrs {
		s.mrs[i] = s.regMR(t, i)
	}
	var ends [2]*end
	for i := range ends {
		qp, err := s.pd.CreateQP(&verbs.QPInitAttr{Type: verbs.QPTypeRC, SendCQ: s.cq, RecvCQ: s.cq,
			Cap: verbs.QPCap{MaxSendWR: 64, MaxRecvWR: 64, MaxSendSGE: 2, MaxRecvSGE: 2, MaxInlineData: 64}})
		if err != nil {
			t.Fatal(err)
		}
		s.qps[i] = qp
		ends[i] = &end{pd: s.pd, cq: s.cq, qp: qp, buf: s.bufs[i], mr: s.mrs[i]}
	}
	connect(t, ctx, ends[0], ends[1])
	s.raddr, s.rkey = s.mrs[1].Addr(), s.mrs[1].RKey()
	if s.list, err = s.newList(s.mrs[0]); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var countMu sync.Mutex
	counts := map[string][2]int{} // per call: successes, errors
	firstErr := map[string]error{}
	deadline := time.Now().Add(2 * time.Second)
	s.late = deadline.Add(-200 * time.Millisecond)
	for g := range 4 {
		rng := rand.New(rand.NewPCG(seed, uint64(g)))
		wg.Go(func() {
			for i := 0; i < 5000 && time.Now().Before(deadline); i++ {
				op, err := s.random(t, rng)
				var oe *verbs.OpError
				var pe *verbs.PostError
				if err != nil && !errors.As(err, &oe) && !errors.As(err, &pe) {
					t.Errorf("%s: %v (%T) is neither an *OpError nor a *PostError", op, err, err)
					return
				}
				countMu.Lock()
				c := counts[op]
				c[btoi(err != nil)]++
				counts[op] = c
				if _, ok := firstErr[op]; err != nil && !ok {
					firstErr[op] = err
				}
				countMu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("calls (succeeded, failed): %v; first errors: %v", counts, firstErr)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// shared are TestRandomConcurrency's objects; mu guards the slots, whose
// objects are replaced once closed.
type shared struct {
	ctx      *verbs.Context
	pd       *verbs.PD
	cq       *verbs.CQ
	qps      [2]*verbs.QP
	raddr    uint64
	rkey     uint32
	mu       sync.Mutex
	bufs     [3]*verbs.Buffer
	mrs      [3]*verbs.MR
	list     *verbs.SendList
	closedQP bool
	calls    atomic.Int64 // random's calls so far: the last tenth may close the QP
	late     time.Time    // or the last tenth of the run's time
}

func (s *shared) regMR(t *testing.T, i int) *verbs.MR {
	mr, err := s.pd.RegMR(s.bufs[i], 0, 0, verbs.AccessLocalWrite|verbs.AccessRemoteWrite|verbs.AccessRemoteRead)
	if err != nil {
		t.Errorf("RegMR: %v", err)
	}
	return mr
}

// newList builds a send list of one RDMA write from mr.
func (s *shared) newList(mr *verbs.MR) (*verbs.SendList, error) {
	return s.qps[0].NewSendList([]verbs.SendWR{{Opcode: verbs.WRRDMAWrite, SGL: []verbs.SGE{mr.SGE(0, 8)},
		RemoteAddr: s.raddr, RKey: s.rkey}})
}

// closeList closes the send list, if any; s.mu is held.
func (s *shared) closeList() error {
	if s.list == nil {
		return nil
	}
	if err := s.list.Close(); err != nil {
		return err
	}
	s.list = nil
	return nil
}

// pick returns the objects of a random slot.
func (s *shared) pick(rng *rand.Rand) (*verbs.MR, *verbs.SendList) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mrs[rng.IntN(len(s.mrs))], s.list
}

// random makes one random call and returns its name and error.
func (s *shared) random(t *testing.T, rng *rand.Rand) (string, error) {
	s.calls.Add(1)
	mr, list := s.pick(rng)
	switch n := rng.IntN(100); {
	case n < 25:
		wrs := make([]verbs.SendWR, 1+rng.IntN(4))
		for i := range wrs {
			wrs[i] = verbs.SendWR{Opcode: verbs.WRRDMAWrite, SGL: []verbs.SGE{mr.SGE(rng.IntN(64), 8)},
				RemoteAddr: s.raddr, RKey: s.rkey}
			if rng.IntN(2) == 0 {
				wrs[i].Opcode = verbs.WRSend // takes one of the peer's receives
			}
			if rng.IntN(4) == 0 {
				wrs[i].Flags = verbs.SendSignaled
			}
		}
		return "PostSend", s.qps[0].PostSend(wrs)
	case n < 40:
		return "PostRecv", s.qps[1].PostRecv([]verbs.RecvWR{{SGL: []verbs.SGE{mr.SGE(0, 64)}}})
	case n < 60:
		_, err := s.cq.Poll(make([]verbs.WorkCompletion, 4))
		return "Poll", err
	case n < 70:
		return "SendList.Post", list.Post(1)
	case n < 78:
		return "SendList.SetSGE", list.SetSGE(0, 0, mr.SGE(rng.IntN(64), 8))
	case n < 84:
		return "MR.Rereg", mr.Rereg(verbs.AccessLocalWrite | verbs.AccessRemoteWrite | verbs.Access(rng.IntN(2))*verbs.AccessRemoteRead)
	case n < 90:
		// Close a region and register its buffer again, or see why not.
		i := rng.IntN(len(s.mrs))
		s.mu.Lock()
		defer s.mu.Unlock()
		err := s.mrs[i].Close()
		if err == nil {
			s.mrs[i] = s.regMR(t, i)
		}
		return "MR.Close", err
	case n < 94:
		// Close the send list and build another, or see why not.
		s.mu.Lock()
		defer s.mu.Unlock()
		if err := s.closeList(); err != nil {
			return "SendList.Close", err
		}
		l, err := s.newList(mr)
		if err == nil {
			s.list = l
		}
		return "SendList.Close", err
	case n < 96:
		s.mu.Lock()
		defer s.mu.Unlock()
		return "Buffer.Close", s.bufs[rng.IntN(len(s.bufs))].Close() // EBUSY: its region is open
	case n < 97:
		return "CQ.Close", s.cq.Close() // EBUSY: the QPs are open
	case n < 98:
		return "PD.Close", s.pd.Close() // EBUSY
	case n < 99 && (s.calls.Load() > 18000 || time.Now().After(s.late)):
		// The send list holds the QP open: close both (on iWARP the
		// connector holds it too: EBUSY).
		s.mu.Lock()
		defer s.mu.Unlock()
		if err := s.closeList(); err != nil {
			return "SendList.Close", err
		}
		err := s.qps[0].Close()
		s.closedQP = s.closedQP || err == nil
		return "QP.Close", err
	default:
		return "Arm", s.cq.Arm(false)
	}
}

// closeAll closes what TestRandomConcurrency made, the context last.
func (s *shared) closeAll(t *testing.T) {
	var objs []interface{ Close() error }
	if s.list != nil {
		objs = append(objs, s.list)
	}
	for _, qp := range s.qps {
		if qp != nil && (qp != s.qps[0] || !s.closedQP) {
			objs = append(objs, qp)
		}
	}
	for _, mr := range s.mrs {
		if mr != nil {
			objs = append(objs, mr)
		}
	}
	for _, b := range s.bufs {
		if b != nil {
			objs = append(objs, b)
		}
	}
	if s.cq != nil {
		objs = append(objs, s.cq)
	}
	if s.pd != nil {
		objs = append(objs, s.pd)
	}
	for _, o := range append(objs, s.ctx) {
		if err := o.Close(); err != nil {
			t.Errorf("closing %T: %v", o, err)
		}
	}
}

// TestRandomAH creates address handles from random attributes (ports, GID
// indexes, destination GIDs and LIDs, service levels, rates, hop limits,
// flow labels and traffic classes, with and without a GRH, now and then the
// device's own route) and sends a datagram through each one created: each
// CreateAH returns an AH or an *OpError wrapping an errno, each post nil or
// a *PostError, each posted send completes, and nothing crashes. A datagram
// through the device's own route then arrives (on a fresh pair if a failed
// send took the QP down).
func TestRandomAH(t *testing.T) {
	rng := rand.New(rand.NewPCG(testbed.Seed(t), 0xa4))
	a, b, good := udPair(t)
	closeAH := func(ah *verbs.AH) {
		t.Cleanup(func() {
			if err := ah.Close(); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		})
	}
	closeAH(good)
	gid := testGID(t, openTestDevice(t))
	route := verbs.AHAttr{IsGlobal: true, PortNum: 1, GRH: verbs.GlobalRoute{DGID: gid.GID, SGIDIndex: uint8(gid.Index), HopLimit: 64}}
	created, failed := 0, 0
	for range 300 {
		attr := route
		if rng.IntN(4) != 0 {
			attr.PortNum = uint8(rng.IntN(4))
			attr.IsGlobal = rng.IntN(2) == 0
			attr.DLID = uint16(rng.IntN(1 << 16))
			attr.SL = uint8(rng.IntN(256))
			attr.SrcPathBits = uint8(rng.IntN(256))
			attr.StaticRate = uint8(rng.IntN(256))
			attr.GRH.SGIDIndex = uint8(rng.IntN(256))
			attr.GRH.HopLimit = uint8(rng.IntN(256))
			attr.GRH.TrafficClass = uint8(rng.IntN(256))
			attr.GRH.FlowLabel = rng.Uint32()
			for i := range attr.GRH.DGID {
				attr.GRH.DGID[i] = byte(rng.IntN(256))
			}
		}
		ah, err := a.pd.CreateAH(&attr)
		if err != nil {
			var op *verbs.OpError
			var errno syscall.Errno
			if !errors.As(err, &op) || !errors.As(err, &errno) {
				t.Fatalf("CreateAH(%+v): %v is no *OpError wrapping an errno", attr, err)
			}
			continue
		}
		created++
		err = a.qp.PostSend([]verbs.SendWR{{ID: uint64(created), Opcode: verbs.WRSend, Flags: verbs.SendSignaled,
			SGL: []verbs.SGE{a.mr.SGE(0, 16)}, AH: ah, RemoteQPN: b.qp.Num(), RemoteQKey: testQKey}})
		var pe *verbs.PostError
		switch {
		case err == nil:
			if wc := waitN(t, a.cq, 1)[0]; wc.Status != verbs.WCSuccess {
				t.Logf("a send through %+v completed with %v", attr, wc.Err())
				failed++
			}
		case !errors.As(err, &pe):
			t.Fatalf("a send through %+v: %v is no *PostError", attr, err)
		}
		if err := ah.Close(); err != nil {
			t.Fatal(err)
		}
		if failed > 0 {
			break // the QP is in error: its later sends would be flushed
		}
	}
	t.Logf("%d AHs created, %d sends failed", created, failed)
	if failed > 0 {
		a, b, good = udPair(t)
		closeAH(good)
	}
	const msg = "through the device's own route"
	if err := b.qp.PostRecv([]verbs.RecvWR{{ID: 1, SGL: []verbs.SGE{b.mr.SGE(0, verbs.GRHSize+64)}}}); err != nil {
		t.Fatal(err)
	}
	copy(a.buf.Bytes()[1024:], msg)
	if err := a.qp.PostSend([]verbs.SendWR{{ID: 2, Opcode: verbs.WRSend, Flags: verbs.SendSignaled, SGL: []verbs.SGE{a.mr.SGE(1024, len(msg))},
		AH: good, RemoteQPN: b.qp.Num(), RemoteQKey: testQKey}}); err != nil {
		t.Fatal(err)
	}
	waitOne(t, a.cq)
	wc := waitOne(t, b.cq)
	if got := string(b.buf.Bytes()[verbs.GRHSize : verbs.GRHSize+len(msg)]); wc.ByteLen != uint32(verbs.GRHSize+len(msg)) || got != msg {
		t.Errorf("received %q (%d bytes)", got, wc.ByteLen)
	}
}
