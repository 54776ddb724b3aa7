package verbs_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/go-rdma/rdma/internal/testbed"
	"github.com/go-rdma/rdma/verbs"
)

// TestRandomModify moves QPs through random ibv_modify_qp calls: random
// masks (now and then with a bit no kernel knows) and random values for
// every attribute, valid ones among them, with small sends and receives
// posted between the calls whatever the QPs' state. Each call returns nil
// or an *OpError wrapping an errno, without a crash. On IB and RoCE, a call
// that passes leaves the QP in the state it asked for and a refused one
// leaves it where it was (or in error, where traffic took it); at the end of
// each epoch both QPs go back to RESET, are connected again and carry a
// message each way. On iWARP, whose QPs reach RTS only through the
// connection manager, each epoch starts from a connected pair, and the
// next epoch's pair carries a message each way. RDMA_TEST_SEED replays a
// run; RDMA_TEST_TRACE=1 logs every call before it is made.
func TestRandomModify(t *testing.T) {
	rng := rand.New(rand.NewPCG(testbed.Seed(t), 0x30d1f7))
	trace := os.Getenv("RDMA_TEST_TRACE") == "1"
	ctx := openTestDevice(t)
	iwarp := isIWARP(t, ctx)
	types := []verbs.QPType{verbs.QPTypeRC, verbs.QPTypeUC, verbs.QPTypeUD}
	if iwarp {
		types = types[:1] // iWARP has RC QPs only
	}
	for _, typ := range types {
		t.Run(typ.String(), func(t *testing.T) {
			for epoch := range 6 {
				t.Run(fmt.Sprintf("epoch%d", epoch), func(t *testing.T) {
					m := newModifier(t, ctx, rng, trace, typ, iwarp)
					for range 60 {
						m.step(t)
					}
					t.Logf("modifies passed %d, refused %d; completions %d, failed %d", m.passed, m.refused, m.succeeded, m.failed)
					if !iwarp {
						m.reconnect(t)
					}
				})
				if t.Failed() {
					return
				}
			}
		})
	}
}

// modifier is an epoch's pair of QPs and what random attributes name.
type modifier struct {
	ctx    *verbs.Context
	rng    *rand.Rand
	trace  bool
	iwarp  bool
	typ    verbs.QPType
	a, b   *end
	gid    verbs.GIDEntry
	mtu    verbs.MTU
	ah     *verbs.AH // a's AH to the device, on UD
	nextID uint64
	// Counts for the epoch's log: modifies passed and refused, requests
	// completed with success and with an error.
	passed, refused, succeeded, failed int
}

func newModifier(t *testing.T, ctx *verbs.Context, rng *rand.Rand, trace bool, typ verbs.QPType, iwarp bool) *modifier {
	t.Helper()
	port, err := ctx.QueryPort(1)
	if err != nil {
		t.Fatal(err)
	}
	m := &modifier{ctx: ctx, rng: rng, trace: trace, iwarp: iwarp, typ: typ, gid: testGID(t, ctx), mtu: port.ActiveMTU}
	m.a = newEndWith(t, ctx, 4096, endOpts{typ: typ})
	m.b = newEndWith(t, ctx, 4096, endOpts{typ: typ})
	if typ == verbs.QPTypeUD {
		if m.ah, err = m.a.pd.CreateAH(m.route()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := m.ah.Close(); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		})
	}
	if iwarp {
		connectCM(t, m.a, m.b)
		m.roundTrip(t)
	}
	return m
}

// route is the address vector of the device's own GID on port 1.
func (m *modifier) route() *verbs.AHAttr {
	return &verbs.AHAttr{IsGlobal: true, PortNum: 1,
		GRH: verbs.GlobalRoute{DGID: m.gid.GID, SGIDIndex: uint8(m.gid.Index), HopLimit: 64}}
}

func (m *modifier) chance(n int) bool { return m.rng.IntN(n) == 0 }

// pick returns a random value below n one time in six and good otherwise.
func pick[T ~int | ~uint8 | ~uint16 | ~uint32](m *modifier, good T, n int) T {
	if m.chance(6) {
		return T(m.rng.IntN(n))
	}
	return good
}

// attr makes random attributes and a random mask for self, whose peer is
// peer: mostly the values a connection would use, often garbage.
func (m *modifier) attr(self, peer *end, current verbs.QPState) (verbs.QPAttr, verbs.QPAttrMask) {
	next := verbs.QPState(m.rng.IntN(7))
	if m.chance(2) {
		next = map[verbs.QPState]verbs.QPState{verbs.QPStateReset: verbs.QPStateInit, verbs.QPStateInit: verbs.QPStateRTR,
			verbs.QPStateRTR: verbs.QPStateRTS, verbs.QPStateRTS: verbs.QPStateSQD, verbs.QPStateSQD: verbs.QPStateRTS,
			verbs.QPStateSQE: verbs.QPStateRTS, verbs.QPStateErr: verbs.QPStateReset}[current]
	}
	access := verbs.AccessLocalWrite | verbs.AccessRemoteWrite | verbs.AccessRemoteRead
	if m.chance(6) {
		access = verbs.Access(m.rng.IntN(1 << 16))
	}
	av := *m.route()
	if m.chance(6) {
		av.PortNum = uint8(m.rng.IntN(4))
		av.GRH.SGIDIndex = uint8(m.rng.IntN(256))
		av.GRH.HopLimit = uint8(m.rng.IntN(256))
		av.GRH.TrafficClass = uint8(m.rng.IntN(256))
		av.GRH.FlowLabel = m.rng.Uint32()
		av.DLID = uint16(m.rng.IntN(1 << 16))
		av.SL = uint8(m.rng.IntN(256))
		av.StaticRate = uint8(m.rng.IntN(256))
		av.IsGlobal = m.chance(2)
		if m.chance(2) {
			for i := range av.GRH.DGID {
				av.GRH.DGID[i] = byte(m.rng.IntN(256))
			}
		}
	}
	attr := verbs.QPAttr{
		State:           int(pick(m, next, 256)),
		CurState:        int(pick(m, current, 256)),
		PathMTU:         pick(m, m.mtu, 8),
		PathMigState:    pick(m, 0, 4),
		QKey:            pick(m, uint32(testQKey), 1<<31) | uint32(btoi(m.chance(16)))<<31,
		RQPSN:           pick(m, uint32(100), 1<<31) * uint32(1+btoi(m.chance(8))),
		SQPSN:           pick(m, uint32(100), 1<<31) * uint32(1+btoi(m.chance(8))),
		DestQPNum:       pick(m, peer.qp.Num(), 1<<25),
		AccessFlags:     int(access),
		AHAttr:          av,
		AltAHAttr:       av,
		PKeyIndex:       pick(m, uint16(0), 1<<16),
		AltPKeyIndex:    pick(m, uint16(0), 1<<16),
		MaxRdAtomic:     pick(m, uint8(1), 256),
		MaxDestRdAtomic: pick(m, uint8(1), 256),
		MinRNRTimer:     pick(m, uint8(12), 256),
		PortNum:         pick(m, uint8(1), 4),
		Timeout:         pick(m, uint8(14), 256),
		RetryCnt:        pick(m, uint8(7), 256),
		RNRRetry:        pick(m, uint8(7), 256),
		AltPortNum:      pick(m, uint8(1), 4),
		AltTimeout:      pick(m, uint8(14), 256),
		RateLimit:       pick(m, uint32(0), 1<<20),
		Cap:             self.qp.Cap(),
	}
	if m.chance(6) {
		attr.Cap.MaxSendWR = uint32(m.rng.IntN(1 << 16))
		attr.Cap.MaxRecvWR = uint32(m.rng.IntN(1 << 16))
	}
	var mask verbs.QPAttrMask
	if !m.chance(4) {
		mask = m.required(current, next)
	}
	for bit := range 21 {
		if m.chance(24) {
			mask ^= 1 << bit
		}
	}
	if m.chance(8) {
		mask |= verbs.QPAttrRateLimit
	}
	if m.chance(16) {
		mask |= 1 << (21 + m.rng.IntN(11))
	}
	return attr, mask
}

// required is the mask of the attributes the move from current to next
// needs on the QP's type.
func (m *modifier) required(current, next verbs.QPState) verbs.QPAttrMask {
	mask := verbs.QPAttrState
	switch {
	case current == verbs.QPStateReset && next == verbs.QPStateInit:
		mask |= verbs.QPAttrPKeyIndex | verbs.QPAttrPort
		if m.typ == verbs.QPTypeUD {
			mask |= verbs.QPAttrQKey
		} else {
			mask |= verbs.QPAttrAccessFlags
		}
	case current == verbs.QPStateInit && next == verbs.QPStateRTR && m.typ != verbs.QPTypeUD:
		mask |= verbs.QPAttrAV | verbs.QPAttrPathMTU | verbs.QPAttrDestQPN | verbs.QPAttrRQPSN
		if m.typ == verbs.QPTypeRC {
			mask |= verbs.QPAttrMaxDestRdAtomic | verbs.QPAttrMinRNRTimer
		}
	case current == verbs.QPStateRTR && next == verbs.QPStateRTS:
		mask |= verbs.QPAttrSQPSN
		if m.typ == verbs.QPTypeRC {
			mask |= verbs.QPAttrTimeout | verbs.QPAttrRetryCnt | verbs.QPAttrRNRRetry | verbs.QPAttrMaxQPRdAtomic
		}
	}
	return mask
}

// step makes one random modify of a or b and, one time in three, posts a
// send from a and a receive on b and polls both CQs once.
func (m *modifier) step(t *testing.T) {
	t.Helper()
	self, peer := m.a, m.b
	if m.chance(2) {
		self, peer = peer, self
	}
	before := m.state(t, self)
	attr, mask := m.attr(self, peer, before)
	if m.trace {
		t.Logf("QP %d (%v): modify %#x %+v", self.qp.Num(), before, mask, attr)
	}
	err := self.qp.Modify(&attr, mask)
	if m.trace {
		t.Logf("modify: %v", err)
	}
	if err == nil {
		m.passed++
	} else {
		m.refused++
	}
	var op *verbs.OpError
	var errno syscall.Errno
	if err != nil && (!errors.As(err, &op) || !errors.As(err, &errno)) {
		t.Fatalf("Modify(%+v, %#x): %v is no *OpError wrapping an errno", attr, mask, err)
	}
	if !m.iwarp {
		after := m.state(t, self)
		switch {
		case err == nil && mask&verbs.QPAttrState != 0 && after != verbs.QPState(attr.State) && after != verbs.QPStateErr:
			t.Fatalf("QP %d in %v after Modify(%+v, %#x) passed from %v", self.qp.Num(), after, attr, mask, before)
		case err != nil && after != before && after != verbs.QPStateErr && after != verbs.QPStateSQE:
			t.Fatalf("QP %d in %v after Modify(%+v, %#x) from %v was refused: %v", self.qp.Num(), after, attr, mask, before, err)
		}
	}
	if m.chance(3) {
		m.traffic(t)
	}
}

// state returns the QP's state, QPStateRTS on iWARP (siw reports none).
func (m *modifier) state(t *testing.T, e *end) verbs.QPState {
	t.Helper()
	if m.iwarp {
		return verbs.QPStateRTS
	}
	s, err := e.qp.State()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// traffic posts a receive on b and a send from a, each refused or not as
// the QPs' states have it, and polls both CQs once.
func (m *modifier) traffic(t *testing.T) {
	t.Helper()
	m.nextID++
	recv := []verbs.RecvWR{{ID: m.nextID, SGL: []verbs.SGE{m.b.mr.SGE(0, 1024)}}}
	send := []verbs.SendWR{{ID: m.nextID, Opcode: verbs.WRSend, Flags: verbs.SendSignaled, SGL: []verbs.SGE{m.a.mr.SGE(0, 16)}}}
	if m.ah != nil {
		send[0].AH, send[0].RemoteQPN, send[0].RemoteQKey = m.ah, m.b.qp.Num(), testQKey
	}
	for _, err := range []error{m.b.qp.PostRecv(recv), m.a.qp.PostSend(send)} {
		var pe *verbs.PostError
		if err != nil && !errors.As(err, &pe) {
			t.Fatalf("post: %v is no *PostError", err)
		}
	}
	wcs := make([]verbs.WorkCompletion, 16)
	for _, e := range []*end{m.a, m.b} {
		n, err := e.cq.Poll(wcs)
		if err != nil {
			t.Fatal(err)
		}
		for _, wc := range wcs[:n] {
			if wc.Status == verbs.WCSuccess {
				m.succeeded++
			} else {
				m.failed++
			}
		}
	}
}

// reconnect moves both QPs to RESET (through ERR unless they are in RESET
// already: a QP in SQD whose send queue rxe still drains, as it does while
// a request waits for an acknowledgement that never comes, may move to ERR
// only), empties their CQs, connects them again and sends a message each
// way.
func (m *modifier) reconnect(t *testing.T) {
	t.Helper()
	for _, e := range []*end{m.a, m.b} {
		if m.state(t, e) == verbs.QPStateReset {
			continue
		}
		for _, s := range []verbs.QPState{verbs.QPStateErr, verbs.QPStateReset} {
			if err := e.qp.Modify(&verbs.QPAttr{State: int(s)}, verbs.QPAttrState); err != nil {
				t.Fatalf("QP %d to %v: %v", e.qp.Num(), s, err)
			}
		}
	}
	time.Sleep(20 * time.Millisecond)
	wcs := make([]verbs.WorkCompletion, 64)
	for _, e := range []*end{m.a, m.b} {
		for {
			n, err := e.cq.Poll(wcs)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
		}
	}
	if m.typ == verbs.QPTypeUD {
		readyUD(t, m.a.qp)
		readyUD(t, m.b.qp)
	} else {
		connectByHand(t, m.ctx, m.a, m.b)
	}
	m.roundTrip(t)
}

// roundTrip sends a message from a to b and one from b to a, and checks
// that each arrives.
func (m *modifier) roundTrip(t *testing.T) {
	t.Helper()
	for _, pair := range [][2]*end{{m.a, m.b}, {m.b, m.a}} {
		from, to := pair[0], pair[1]
		m.nextID++
		id := m.nextID
		msg := fmt.Sprintf("message %d", id)
		off := 0
		if m.typ == verbs.QPTypeUD {
			off = verbs.GRHSize
		}
		if err := to.qp.PostRecv([]verbs.RecvWR{{ID: id, SGL: []verbs.SGE{to.mr.SGE(0, off+1024)}}}); err != nil {
			t.Fatal(err)
		}
		copy(from.buf.Bytes()[2048:], msg)
		send := verbs.SendWR{ID: id, Opcode: verbs.WRSend, Flags: verbs.SendSignaled, SGL: []verbs.SGE{from.mr.SGE(2048, len(msg))}}
		if m.typ == verbs.QPTypeUD {
			ah, err := from.pd.CreateAH(m.route())
			if err != nil {
				t.Fatal(err)
			}
			defer ah.Close()
			send.AH, send.RemoteQPN, send.RemoteQKey = ah, to.qp.Num(), testQKey
		}
		if err := from.qp.PostSend([]verbs.SendWR{send}); err != nil {
			t.Fatal(err)
		}
		m.await(t, from.cq, id)
		wc := m.await(t, to.cq, id)
		if got := string(to.buf.Bytes()[off : off+len(msg)]); wc.ByteLen != uint32(off+len(msg)) || got != msg {
			t.Fatalf("received %q (%d bytes), sent %q", got, wc.ByteLen, msg)
		}
	}
}

// await returns cq's successful completion of request id, failing t on a
// failed one or after 10 s; completions of earlier requests are skipped.
func (m *modifier) await(t *testing.T, cq *verbs.CQ, id uint64) verbs.WorkCompletion {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wcs := make([]verbs.WorkCompletion, 1)
	for {
		if _, err := cq.PollWait(ctx, wcs); err != nil {
			t.Fatalf("waiting for the completion of request %d: %v", id, err)
		}
		if wcs[0].WRID != id {
			continue
		}
		if err := wcs[0].Err(); err != nil {
			t.Fatalf("request %d: %v", id, err)
		}
		return wcs[0]
	}
}
