package verbs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/go-rdma/rdma/internal/testbed"
	"github.com/go-rdma/rdma/verbs"
)

// wantRemAccessErr checks that wc is a refused remote access.
func wantRemAccessErr(t *testing.T, what string, wc verbs.WorkCompletion) {
	t.Helper()
	var wcErr *verbs.WCError
	if !errors.As(wc.Err(), &wcErr) || wcErr.Status != verbs.WCRemAccessErr {
		t.Errorf("%s completed with %+v (%v), want %v", what, wc, wc.Err(), verbs.WCRemAccessErr)
	}
}

// A WRLocalInv request invalidates a bound type 2 window: its completion is
// WCLocalInv, and the peer's write through the window's rkey, which went
// through before, is refused after it. An invalidated window binds again
// with a new rkey, also in the same chain of requests as the invalidate:
// local invalidates and binds of one window, posted together, complete in
// order, and the peer writes through the last rkey.
func TestLocalInvalidate(t *testing.T) {
	ctx := openTestDevice(t)
	a, b := newEnd(t, ctx, 4096), newEnd(t, ctx, 4096)
	needMW(t, ctx, b.pd)
	connect(t, ctx, a, b)
	mr, mw := bindType2(t, b, 0, 1024, verbs.AccessRemoteWrite)
	if wc := writeAt(t, a, 1, mr.Addr(), mw.RKey(), 8); wc.Err() != nil {
		t.Fatalf("write through the window: %v", wc.Err())
	}
	if err := b.qp.PostSend([]verbs.SendWR{{ID: 2, Opcode: verbs.WRLocalInv, Flags: verbs.SendSignaled, RKey: mw.RKey()}}); err != nil {
		t.Fatal(err)
	}
	if wc := waitOne(t, b.cq); wc.WRID != 2 || wc.Opcode != verbs.WCLocalInv {
		t.Errorf("local invalidate completion %+v, want WR 2, %v", wc, verbs.WCLocalInv)
	}
	wantRemAccessErr(t, "a write through the invalidated rkey", writeAt(t, a, 3, mr.Addr(), mw.RKey(), 8))

	// A fresh pair: the refused write took the first one down.
	c, d := newEnd(t, ctx, 4096), newEnd(t, ctx, 4096)
	connect(t, ctx, c, d)
	mr, mw = bindType2(t, d, 0, 1024, verbs.AccessRemoteWrite)
	k1 := mw.RKey()
	k2, k3 := verbs.IncRKey(k1), verbs.IncRKey(verbs.IncRKey(k1))
	bind := func(id uint64, rkey uint32) verbs.SendWR {
		return verbs.SendWR{ID: id, Opcode: verbs.WRBindMW, Flags: verbs.SendSignaled, MW: mw, RKey: rkey,
			Bind: verbs.MWBind{MR: mr, Addr: mr.Addr(), Length: 1024, Access: verbs.AccessRemoteWrite}}
	}
	inv := func(id uint64, rkey uint32) verbs.SendWR {
		return verbs.SendWR{ID: id, Opcode: verbs.WRLocalInv, Flags: verbs.SendSignaled, RKey: rkey}
	}
	if err := d.qp.PostSend([]verbs.SendWR{inv(10, k1), bind(11, k2), inv(12, k2), bind(13, k3)}); err != nil {
		t.Fatal(err)
	}
	for i, wc := range waitN(t, d.cq, 4) {
		want := []verbs.WCOpcode{verbs.WCLocalInv, verbs.WCBindMW}[i%2]
		if wc.Err() != nil || wc.WRID != uint64(10+i) || wc.Opcode != want {
			t.Errorf("completion %d of the chain: %+v (%v), want WR %d, %v", i, wc, wc.Err(), 10+i, want)
		}
	}
	if mw.RKey() != k3 {
		t.Errorf("window rkey %#x after the chain, want %#x", mw.RKey(), k3)
	}
	copy(c.buf.Bytes(), "rebound!")
	if wc := writeAt(t, c, 14, mr.Addr()+8, k3, 8); wc.Err() != nil {
		t.Fatalf("write through the rebound window: %v", wc.Err())
	}
	if got := string(d.buf.Bytes()[8:16]); got != "rebound!" {
		t.Errorf("write through the rebound window left %q", got)
	}
	wantRemAccessErr(t, "a write through the rkey invalidated in the chain", writeAt(t, c, 15, mr.Addr(), k2, 8))
}

// A WRSendWithInv request delivers its message and invalidates the rkey it
// names at the receiver, whose completion says so (WCWithInv, the rkey in
// Imm); the sender's write through that rkey, which went through before,
// is refused after it. The rkey is a type 2 window's where the device has
// windows (rxe), else a region's (siw, which invalidates a region's rkey).
func TestSendWithInvalidate(t *testing.T) {
	ctx := openTestDevice(t)
	a, b := newEnd(t, ctx, 4096), newEnd(t, ctx, 4096)
	connect(t, ctx, a, b)
	dev, err := ctx.QueryDevice()
	if err != nil {
		t.Fatal(err)
	}
	var addr uint64
	var rkey uint32
	if dev.MaxMW > 0 {
		mr, mw := bindType2(t, b, 1024, 1024, verbs.AccessRemoteWrite)
		addr, rkey = mr.Addr()+1024, mw.RKey()
	} else {
		mr, err := b.pd.RegMR(b.buf, 1024, 1024, verbs.AccessLocalWrite|verbs.AccessRemoteWrite)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { mr.Close() })
		addr, rkey = mr.Addr(), mr.RKey()
	}
	if wc := writeAt(t, a, 1, addr, rkey, 8); wc.Err() != nil {
		t.Fatalf("write through rkey %#x before the invalidate: %v", rkey, wc.Err())
	}
	if err := b.qp.PostRecv([]verbs.RecvWR{{ID: 7, SGL: []verbs.SGE{b.mr.SGE(0, 64)}}}); err != nil {
		t.Fatal(err)
	}
	copy(a.buf.Bytes(), "and invalidate")
	if err := a.qp.PostSend([]verbs.SendWR{{ID: 2, Opcode: verbs.WRSendWithInv, Flags: verbs.SendSignaled,
		SGL: []verbs.SGE{a.mr.SGE(0, 14)}, RKey: rkey}}); err != nil {
		t.Fatal(err)
	}
	if wc := waitOne(t, a.cq); wc.WRID != 2 || wc.Opcode != verbs.WCSend {
		t.Errorf("send with invalidate: completion %+v", wc)
	}
	wc := waitOne(t, b.cq)
	if wc.WRID != 7 || wc.Opcode != verbs.WCRecv || wc.ByteLen != 14 || string(b.buf.Bytes()[:14]) != "and invalidate" {
		t.Errorf("receive %+v, data %q", wc, b.buf.Bytes()[:14])
	}
	if testbed.IWARP(t) {
		// libsiw reports neither flag nor rkey, and siw leaves a region's
		// rkey valid: the write after it goes through.
		if after := writeAt(t, a, 3, addr, rkey, 8); wc.Flags != 0 || after.Err() != nil {
			t.Errorf("siw: receive flags %v; a write through the rkey after the send failed: siw now invalidates, update the test", wc.Flags)
		}
		testbed.Limitation(t, "siw (rdma-core 44, Linux 6.1) delivers a send with invalidate as a send: no WCWithInv, the region's rkey stays valid")
	}
	// rxe sets the kernel's IB_WC_WITH_INVALIDATE bit, reported as
	// WCWithInv (see WCWithInv).
	if wc.Flags&verbs.WCWithInv == 0 || wc.Flags&(1<<2) != 0 || wc.Imm != rkey {
		t.Errorf("receive flags %v, Imm %#x: want WCWithInv and the invalidated rkey %#x", wc.Flags, wc.Imm, rkey)
	}
	wantRemAccessErr(t, "a write through the invalidated rkey", writeAt(t, a, 3, addr, rkey, 8))
}

// A peer's send with invalidate unbinds the window it names, and the
// receive completion that says so (WCWithInv) makes the binding record it:
// a local invalidate of the window after it is refused, as one of a window
// never bound, where it would reach the device (rxe 6.1 follows a null
// pointer invalidating a window that is not bound: a kernel panic in the
// test bed). The peer is another process (this test binary again, as
// sendWithInvPeer), whose post this process cannot see. The window binds
// again under its next rkey, and a local invalidate of that one goes
// through.
func TestPeerInvalidatedWindow(t *testing.T) {
	ctx := openTestDevice(t)
	b := newEnd(t, ctx, 4096)
	needMW(t, ctx, b.pd)
	port, err := ctx.QueryPort(1)
	if err != nil {
		t.Fatal(err)
	}
	gid := testGID(t, ctx)
	peer := exec.Command(os.Args[0])
	peer.Env = append(os.Environ(), fmt.Sprintf("%s=%d", peerEnv, b.qp.Num()))
	var stderr bytes.Buffer
	peer.Stderr = &stderr
	in, err := peer.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := peer.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := peer.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		in.Close()
		if err := peer.Wait(); err != nil {
			t.Errorf("the peer process: %v; its stderr: %s", err, stderr.Bytes())
		}
	}()
	var num uint32
	if _, err := fmt.Fscanln(out, &num); err != nil {
		t.Fatalf("the peer's QP number: %v", err)
	}
	if err := bringUp(b.qp, port.ActiveMTU, num, gid); err != nil {
		t.Fatal(err)
	}
	mr, mw := bindType2(t, b, 0, 1024, verbs.AccessRemoteWrite)
	rkey := mw.RKey()
	if err := b.qp.PostRecv([]verbs.RecvWR{{ID: 7, SGL: []verbs.SGE{b.mr.SGE(0, 64)}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintln(in, rkey); err != nil {
		t.Fatal(err)
	}
	if wc := waitOne(t, b.cq); wc.WRID != 7 || wc.Flags&verbs.WCWithInv == 0 || wc.Imm != rkey {
		t.Fatalf("receive %+v: want WCWithInv and the invalidated rkey %#x", wc, rkey)
	}
	inv := func(id uint64, rkey uint32) []verbs.SendWR {
		return []verbs.SendWR{{ID: id, Opcode: verbs.WRLocalInv, Flags: verbs.SendSignaled, RKey: rkey}}
	}
	var pe *verbs.PostError
	if err := b.qp.PostSend(inv(2, rkey)); !errors.As(err, &pe) || pe.Index != 0 || !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("local invalidate of the window the peer invalidated: %v, want a *PostError at 0 wrapping EINVAL", err)
	}
	expectEmpty(t, b.cq)
	next := verbs.IncRKey(rkey)
	if err := b.qp.PostSend([]verbs.SendWR{{ID: 3, Opcode: verbs.WRBindMW, Flags: verbs.SendSignaled, MW: mw, RKey: next,
		Bind: verbs.MWBind{MR: mr, Addr: mr.Addr(), Length: 1024, Access: verbs.AccessRemoteWrite}}}); err != nil {
		t.Fatal(err)
	}
	if wc := waitOne(t, b.cq); wc.WRID != 3 || wc.Opcode != verbs.WCBindMW || mw.RKey() != next {
		t.Fatalf("bind after the peer's invalidate: completion %+v, rkey %#x, want %#x", wc, mw.RKey(), next)
	}
	if err := b.qp.PostSend(inv(4, next)); err != nil {
		t.Fatal(err)
	}
	if wc := waitOne(t, b.cq); wc.WRID != 4 || wc.Opcode != verbs.WCLocalInv {
		t.Errorf("local invalidate of the window bound again: completion %+v", wc)
	}
}

// On rxe a type 2 window keeps each QP a bind of it was posted through
// open until the window is closed, invalidated or not: rxe 6.1 would write
// to the freed QP when the window is invalidated or freed. Once the window
// is closed the QP closes, and a local invalidate of the closed window's
// rkey is refused on rxe, which would look the index up among all the
// device's windows. Elsewhere the QP closes while the window is bound.
func TestWindowHoldsQP(t *testing.T) {
	ctx := openTestDevice(t)
	b := newEnd(t, ctx, 4096)
	needMW(t, ctx, b.pd)
	dev, err := ctx.QueryDevice()
	if err != nil {
		t.Fatal(err)
	}
	rxe := dev.VendorID == 0xffffff
	port, err := ctx.QueryPort(1)
	if err != nil {
		t.Fatal(err)
	}
	qp, err := b.pd.CreateQP(&verbs.QPInitAttr{Type: verbs.QPTypeRC, SendCQ: b.cq, RecvCQ: b.cq,
		Cap: verbs.QPCap{MaxSendWR: 4, MaxRecvWR: 1, MaxSendSGE: 1, MaxRecvSGE: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer qp.Close()
	if err := bringUp(qp, port.ActiveMTU, b.qp.Num(), testGID(t, ctx)); err != nil {
		t.Fatal(err)
	}
	mr := windowed(t, b)
	mw := allocMW(t, b.pd, verbs.MWType2)
	rkey := verbs.IncRKey(mw.RKey())
	if err := qp.PostSend([]verbs.SendWR{
		{ID: 1, Opcode: verbs.WRBindMW, Flags: verbs.SendSignaled, MW: mw, RKey: rkey,
			Bind: verbs.MWBind{MR: mr, Addr: mr.Addr(), Length: 1024, Access: verbs.AccessRemoteWrite}},
		{ID: 2, Opcode: verbs.WRLocalInv, Flags: verbs.SendSignaled, RKey: rkey},
	}); err != nil {
		t.Fatal(err)
	}
	for i, wc := range waitN(t, b.cq, 2) {
		if wc.Err() != nil || wc.WRID != uint64(1+i) {
			t.Fatalf("bind and invalidate: completion %d: %+v (%v)", i, wc, wc.Err())
		}
	}
	if !rxe {
		if err := qp.Close(); err != nil {
			t.Errorf("close of a QP a window was bound through: %v", err)
		}
		return
	}
	if err := qp.Close(); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("close of a QP a window was bound through, before the window's: %v, want EBUSY", err)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	var pe *verbs.PostError
	if err := qp.PostSend([]verbs.SendWR{{ID: 3, Opcode: verbs.WRLocalInv, Flags: verbs.SendSignaled, RKey: rkey}}); !errors.As(err, &pe) || !errors.Is(err, syscall.EINVAL) {
		t.Errorf("local invalidate of a closed window's rkey: %v, want a *PostError wrapping EINVAL", err)
	}
	if err := qp.Close(); err != nil {
		t.Errorf("close of the QP once the window is closed: %v", err)
	}
}

// On rxe a failed request of a QP, or its move to ERR or RESET, leaves the
// type 2 windows last bound through it unknown: a flushed bind changes
// nothing, and a window unbound under rkey k, bound again through a QP
// in ERR under k+1 then k (both flushed), would be recorded bound under
// the rkey rxe keeps for it unbound, and its local invalidate would crash
// rxe 6.1. Once the flushes are polled such windows count as unbound: a
// local invalidate through another QP is refused, and a bind through a
// working QP binds the window again.
func TestWindowAfterQPFailure(t *testing.T) {
	ctx := openTestDevice(t)
	b := newEnd(t, ctx, 4096)
	needMW(t, ctx, b.pd)
	if dev, err := ctx.QueryDevice(); err != nil {
		t.Fatal(err)
	} else if dev.VendorID != 0xffffff {
		testbed.Limitation(t, "%s: the guard is rxe's: other devices fail an invalidate of a window that is not bound", ctx.Name())
	}
	port, err := ctx.QueryPort(1)
	if err != nil {
		t.Fatal(err)
	}
	gid := testGID(t, ctx)
	qp, err := b.pd.CreateQP(&verbs.QPInitAttr{Type: verbs.QPTypeRC, SendCQ: b.cq, RecvCQ: b.cq,
		Cap: verbs.QPCap{MaxSendWR: 8, MaxRecvWR: 1, MaxSendSGE: 1, MaxRecvSGE: 1}})
	if err != nil {
		t.Fatal(err)
	}
	mr := windowed(t, b)
	mw := allocMW(t, b.pd, verbs.MWType2)
	t.Cleanup(func() {
		mw.Close()
		if err := qp.Close(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	for _, pair := range [][2]*verbs.QP{{qp, b.qp}, {b.qp, qp}} {
		if err := bringUp(pair[0], port.ActiveMTU, pair[1].Num(), gid); err != nil {
			t.Fatal(err)
		}
	}
	bind := func(q *verbs.QP, id uint64, rkey uint32) {
		t.Helper()
		if err := q.PostSend([]verbs.SendWR{{ID: id, Opcode: verbs.WRBindMW, Flags: verbs.SendSignaled, MW: mw, RKey: rkey,
			Bind: verbs.MWBind{MR: mr, Addr: mr.Addr(), Length: 1024, Access: verbs.AccessRemoteWrite}}}); err != nil {
			t.Fatal(err)
		}
	}
	inv := func(q *verbs.QP, id uint64, rkey uint32) error {
		return q.PostSend([]verbs.SendWR{{ID: id, Opcode: verbs.WRLocalInv, Flags: verbs.SendSignaled, RKey: rkey}})
	}
	k := verbs.IncRKey(mw.RKey())
	bind(qp, 1, k)
	if err := inv(qp, 2, k); err != nil {
		t.Fatal(err)
	}
	for i, wc := range waitN(t, b.cq, 2) {
		if wc.Err() != nil || wc.WRID != uint64(1+i) {
			t.Fatalf("bind and invalidate: completion %d: %+v (%v)", i, wc, wc.Err())
		}
	}
	if err := qp.Modify(&verbs.QPAttr{State: int(verbs.QPStateErr)}, verbs.QPAttrState); err != nil {
		t.Fatal(err)
	}
	for i, rkey := range []uint32{verbs.IncRKey(k), k} {
		bind(qp, uint64(3+i), rkey)
		var wcErr *verbs.WCError
		if wc := waitN(t, b.cq, 1)[0]; wc.WRID != uint64(3+i) || !errors.As(wc.Err(), &wcErr) || wcErr.Status != verbs.WCWRFlushErr {
			t.Fatalf("bind through a QP in ERR: completion %+v (%v), want a flush", wc, wc.Err())
		}
	}
	var pe *verbs.PostError
	if err := inv(b.qp, 5, k); !errors.As(err, &pe) || !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("local invalidate of a window whose binds were flushed: %v, want a *PostError wrapping EINVAL", err)
	}
	expectEmpty(t, b.cq)
	next := verbs.IncRKey(k)
	bind(b.qp, 6, next)
	if err := inv(b.qp, 7, next); err != nil {
		t.Fatal(err)
	}
	for i, wc := range waitN(t, b.cq, 2) {
		if wc.Err() != nil || wc.WRID != uint64(6+i) {
			t.Errorf("bind and invalidate through a working QP: completion %d: %+v (%v)", i, wc, wc.Err())
		}
	}
}

// peerEnv, set to a QP number in the environment of this test binary,
// makes it TestPeerInvalidatedWindow's peer (sendWithInvPeer) instead of
// running tests.
const peerEnv = "VERBS_TEST_SEND_WITH_INV_TO"

// sendWithInvPeer is the peer process of TestPeerInvalidatedWindow: it
// brings an RC QP of the device under test up against QP number to,
// prints its own QP number, reads an rkey from stdin once the test's QP
// is up too, sends a message that invalidates it, and waits for the
// send's completion.
func sendWithInvPeer(to string) (err error) {
	var peer, rkey uint32
	if _, err := fmt.Sscan(to, &peer); err != nil {
		return fmt.Errorf("%s=%q: %w", peerEnv, to, err)
	}
	ctx, err := verbs.Open(os.Getenv("RDMA_TEST_DEVICE"))
	if err != nil {
		return err
	}
	var closers []interface{ Close() error }
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			err = errors.Join(err, closers[i].Close())
		}
	}()
	closers = append(closers, ctx)
	pd, err := ctx.AllocPD()
	if err != nil {
		return err
	}
	closers = append(closers, pd)
	cq, err := ctx.CreateCQ(4, nil)
	if err != nil {
		return err
	}
	closers = append(closers, cq)
	qp, err := pd.CreateQP(&verbs.QPInitAttr{Type: verbs.QPTypeRC, SendCQ: cq, RecvCQ: cq,
		Cap: verbs.QPCap{MaxSendWR: 1, MaxRecvWR: 1, MaxSendSGE: 1, MaxRecvSGE: 1}})
	if err != nil {
		return err
	}
	closers = append(closers, qp)
	buf, err := verbs.NewBuffer(64, nil)
	if err != nil {
		return err
	}
	closers = append(closers, buf)
	mr, err := pd.RegMR(buf, 0, 0, verbs.AccessLocalWrite)
	if err != nil {
		return err
	}
	closers = append(closers, mr)
	port, err := ctx.QueryPort(1)
	if err != nil {
		return err
	}
	table, err := ctx.GIDTable()
	if err != nil || len(table) == 0 {
		return fmt.Errorf("GID table %v: %w", table, err)
	}
	if err := bringUp(qp, port.ActiveMTU, peer, table[len(table)-1]); err != nil {
		return err
	}
	fmt.Println(qp.Num())
	if _, err := fmt.Scanln(&rkey); err != nil {
		return fmt.Errorf("the rkey: %w", err)
	}
	copy(buf.Bytes(), "peer inv")
	if err := qp.PostSend([]verbs.SendWR{{ID: 1, Opcode: verbs.WRSendWithInv, Flags: verbs.SendSignaled,
		SGL: []verbs.SGE{mr.SGE(0, 8)}, RKey: rkey}}); err != nil {
		return err
	}
	wait, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wcs := make([]verbs.WorkCompletion, 1)
	if _, err := cq.PollWait(wait, wcs); err != nil {
		return err
	}
	return wcs[0].Err()
}

// Invalidate requests the binding refuses before the provider sees them: a
// local invalidate with entries or inline, either opcode on a UD QP.
func TestInvalidateBadInput(t *testing.T) {
	ctx := openTestDevice(t)
	a := newEnd(t, ctx, 4096)
	for name, wr := range map[string]verbs.SendWR{
		"local invalidate with an entry":  {Opcode: verbs.WRLocalInv, RKey: 1, SGL: []verbs.SGE{a.mr.SGE(0, 8)}},
		"local invalidate inline":         {Opcode: verbs.WRLocalInv, RKey: 1, Flags: verbs.SendInline},
		"local invalidate, entry, inline": {Opcode: verbs.WRLocalInv, RKey: 1, Flags: verbs.SendInline, SGL: []verbs.SGE{a.mr.SGE(0, 8)}},
	} {
		var pe *verbs.PostError
		if err := a.qp.PostSend([]verbs.SendWR{wr}); !errors.As(err, &pe) || pe.Index != 0 || !errors.Is(err, syscall.EINVAL) {
			t.Errorf("%s: %v, want a *PostError at 0 wrapping EINVAL", name, err)
		}
	}
	if testbed.IWARP(t) {
		testbed.Limitation(t, "iWARP has no UD QPs")
	}
	u := newEndWith(t, ctx, 4096, endOpts{typ: verbs.QPTypeUD})
	for _, op := range []verbs.WROpcode{verbs.WRLocalInv, verbs.WRSendWithInv} {
		if err := u.qp.PostSend([]verbs.SendWR{{Opcode: op, RKey: 1}}); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("opcode %d on a UD QP: %v, want EINVAL", op, err)
		}
	}
}

// Invalidates of a type 2 window that is not bound, or by another rkey than
// its current one, are refused before the provider sees them: besides being
// invalid, they crash Linux 6.1's rxe, which follows a null pointer
// invalidating a window that is not bound (a kernel panic in the test bed
// if one got through). Refused: a bind by the window's own rkey or one of
// another index (a bind that failed as it ran would leave the window free
// under the rkey the binding records), a local invalidate or a send with
// invalidate of a fresh window, a second local invalidate of a window, one
// by the rkey before its last bind, an invalidate in a send list. A bind
// and an invalidate of the window posted in one call go through, in order.
func TestInvalidateUnboundWindow(t *testing.T) {
	ctx := openTestDevice(t)
	a, b := newEnd(t, ctx, 4096), newEnd(t, ctx, 4096)
	needMW(t, ctx, b.pd)
	connect(t, ctx, a, b)
	mr := windowed(t, b)
	mw := allocMW(t, b.pd, verbs.MWType2)
	refused := func(what string, qp *verbs.QP, wrs ...verbs.SendWR) {
		t.Helper()
		var pe *verbs.PostError
		if err := qp.PostSend(wrs); !errors.As(err, &pe) || pe.Index != len(wrs)-1 || !errors.Is(err, syscall.EINVAL) {
			t.Errorf("%s: %v, want a *PostError at %d wrapping EINVAL", what, err, len(wrs)-1)
		}
	}
	inv := func(id uint64, rkey uint32) verbs.SendWR {
		return verbs.SendWR{ID: id, Opcode: verbs.WRLocalInv, Flags: verbs.SendSignaled, RKey: rkey}
	}
	bind := func(id uint64, rkey uint32) verbs.SendWR {
		return verbs.SendWR{ID: id, Opcode: verbs.WRBindMW, Flags: verbs.SendSignaled, MW: mw, RKey: rkey,
			Bind: verbs.MWBind{MR: mr, Addr: mr.Addr(), Length: 1024, Access: verbs.AccessRemoteWrite}}
	}
	k0 := mw.RKey()
	refused("a bind by the window's own rkey", b.qp, bind(20, k0))
	refused("a bind by an rkey of another index", b.qp, bind(21, verbs.IncRKey(k0)^0x100))
	refused("local invalidate of a fresh window", b.qp, inv(1, k0))
	refused("send with invalidate of a fresh window", a.qp, verbs.SendWR{ID: 2, Opcode: verbs.WRSendWithInv,
		Flags: verbs.SendSignaled, SGL: []verbs.SGE{a.mr.SGE(0, 8)}, RKey: k0})
	expectEmpty(t, a.cq)
	expectEmpty(t, b.cq)

	k1 := verbs.IncRKey(k0)
	if err := b.qp.PostSend([]verbs.SendWR{bind(3, k1), inv(4, k1)}); err != nil {
		t.Fatal(err)
	}
	for i, wc := range waitN(t, b.cq, 2) {
		if wc.Err() != nil || wc.WRID != uint64(3+i) {
			t.Errorf("bind and invalidate posted together: completion %d: %+v (%v)", i, wc, wc.Err())
		}
	}
	refused("a second local invalidate", b.qp, inv(5, k1))
	k2 := verbs.IncRKey(k1)
	refused("a bind, then an invalidate by the rkey before it", b.qp, bind(6, k2), inv(7, k1))
	if wc := waitOne(t, b.cq); wc.WRID != 6 {
		t.Errorf("bind completion %+v", wc)
	}
	if _, err := b.qp.NewSendList([]verbs.SendWR{inv(8, k2)}); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("a send list with a local invalidate: %v, want EINVAL", err)
	}
	if _, err := a.qp.NewSendList([]verbs.SendWR{{Opcode: verbs.WRSendWithInv, SGL: []verbs.SGE{a.mr.SGE(0, 8)}, RKey: k2}}); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("a send list with a send with invalidate: %v, want EINVAL", err)
	}
	if err := b.qp.PostSend([]verbs.SendWR{inv(9, k2)}); err != nil {
		t.Fatal(err)
	}
	if wc := waitOne(t, b.cq); wc.WRID != 9 || wc.Opcode != verbs.WCLocalInv {
		t.Errorf("local invalidate of the bound window: completion %+v", wc)
	}
	expectEmpty(t, b.cq)
}
