package verbs_test

import (
	"bytes"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/go-rdma/rdma/internal/testbed"
	"github.com/go-rdma/rdma/verbs"
)

// needMW skips t, as a transport limitation, on devices without memory
// windows, after checking that AllocMW refuses them.
func needMW(t *testing.T, ctx *verbs.Context, pd *verbs.PD) {
	t.Helper()
	dev, err := ctx.QueryDevice()
	if err != nil {
		t.Fatal(err)
	}
	if dev.MaxMW > 0 {
		return
	}
	mw, err := pd.AllocMW(verbs.MWType2)
	if err == nil {
		mw.Close()
		t.Fatalf("%s: max_mw is 0, yet AllocMW succeeded", ctx.Name())
	}
	testbed.Limitation(t, "%s: max_mw is 0: no memory windows (ibv_alloc_mw: %v)", ctx.Name(), err)
}

// windowed is a region of e's buffer registered for window binding only:
// no remote access of its own.
func windowed(t *testing.T, e *end) *verbs.MR {
	t.Helper()
	mr, err := e.pd.RegMR(e.buf, 0, 0, verbs.AccessLocalWrite|verbs.AccessMWBind)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := mr.Close(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return mr
}

func allocMW(t *testing.T, pd *verbs.PD, typ verbs.MWType) *verbs.MW {
	t.Helper()
	mw, err := pd.AllocMW(typ)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mw.Close() })
	return mw
}

// writeAt RDMA-writes n bytes from a's buffer to addr with rkey and returns
// the completion, failed or not.
func writeAt(t *testing.T, a *end, id uint64, addr uint64, rkey uint32, n int) verbs.WorkCompletion {
	t.Helper()
	if err := a.qp.PostSend([]verbs.SendWR{{ID: id, Opcode: verbs.WRRDMAWrite, Flags: verbs.SendSignaled,
		SGL: []verbs.SGE{a.mr.SGE(0, n)}, RemoteAddr: addr, RKey: rkey}}); err != nil {
		t.Fatal(err)
	}
	return waitN(t, a.cq, 1)[0]
}

// bindType2 binds a type 2 window of b's PD to [off, off+size) of a region
// of b's buffer registered for binding only, with access, by a WRBindMW
// request on b's QP, the one the peer's requests reach.
func bindType2(t *testing.T, b *end, off, size int, access verbs.Access) (*verbs.MR, *verbs.MW) {
	t.Helper()
	mr := windowed(t, b)
	mw := allocMW(t, b.pd, verbs.MWType2)
	if mw.Type() != verbs.MWType2 {
		t.Errorf("window type %v", mw.Type())
	}
	rkey := verbs.IncRKey(mw.RKey())
	if err := b.qp.PostSend([]verbs.SendWR{{ID: 50, Opcode: verbs.WRBindMW, Flags: verbs.SendSignaled, MW: mw, RKey: rkey,
		Bind: verbs.MWBind{MR: mr, Addr: mr.Addr() + uint64(off), Length: uint64(size), Access: access}}}); err != nil {
		t.Fatal(err)
	}
	if wc := waitOne(t, b.cq); wc.WRID != 50 || wc.Opcode != verbs.WCBindMW {
		t.Errorf("bind completion %+v", wc)
	}
	if mw.RKey() != rkey {
		t.Errorf("window rkey %#x after the bind, want %#x", mw.RKey(), rkey)
	}
	return mr, mw
}

// A type 2 window bound by a WRBindMW request lets the peer write within
// its range with its rkey; a write across its end is refused. The window
// is the region's last 512 bytes, whose own rkey grants no remote access.
func TestMWType2WriteWithinWindow(t *testing.T) {
	ctx := openTestDevice(t)
	a, b := newEnd(t, ctx, 4096), newEnd(t, ctx, 4096)
	needMW(t, ctx, b.pd)
	connect(t, ctx, a, b)
	const off, size = 4096 - 512, 512
	mr, mw := bindType2(t, b, off, size, verbs.AccessRemoteWrite)
	if err := mr.Close(); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("MR.Close with a window bound to it: %v, want EBUSY", err)
	}
	start := mr.Addr() + off
	copy(a.buf.Bytes(), "through the window")
	for _, at := range []uint64{start, start + 100, start + size - 18} {
		if wc := writeAt(t, a, 1, at, mw.RKey(), 18); wc.Err() != nil {
			t.Fatalf("write at window offset %d: %v", at-start, wc.Err())
		}
		if got := string(b.buf.Bytes()[off+at-start:][:18]); got != "through the window" {
			t.Errorf("write at window offset %d left %q", at-start, got)
		}
	}
	before := bytes.Clone(b.buf.Bytes())
	wc := writeAt(t, a, 2, start+size-4, mw.RKey(), 8)
	var wcErr *verbs.WCError
	if !errors.As(wc.Err(), &wcErr) || wcErr.Status != verbs.WCRemAccessErr {
		t.Errorf("write across the window's end completed with %+v (%v), want %v", wc, wc.Err(), verbs.WCRemAccessErr)
	}
	if !bytes.Equal(b.buf.Bytes(), before) {
		t.Error("the refused write changed the region")
	}
}

// A write through a window's rkey outside the window, though inside its
// region, is refused.
func TestMWBoundsInsideRegion(t *testing.T) {
	ctx := openTestDevice(t)
	a, b := newEnd(t, ctx, 4096), newEnd(t, ctx, 4096)
	needMW(t, ctx, b.pd)
	connect(t, ctx, a, b)
	const off, size = 1024, 512
	mr, mw := bindType2(t, b, off, size, verbs.AccessRemoteWrite)
	before := bytes.Clone(b.buf.Bytes())
	copy(a.buf.Bytes(), "outside!")
	wc := writeAt(t, a, 1, mr.Addr()+off-8, mw.RKey(), 8)
	if wc.Err() == nil {
		testbed.Limitation(t, "%s does not hold remote access to a memory window's bounds, only to its region's: "+
			"an 8-byte write just before the window, through its rkey, succeeded and left %q "+
			"(kernel rxe_resp.c check_rkey checks the range against mw->mr)", ctx.Name(), b.buf.Bytes()[off-8:off])
	}
	var wcErr *verbs.WCError
	if !errors.As(wc.Err(), &wcErr) || wcErr.Status != verbs.WCRemAccessErr {
		t.Errorf("write before the window completed with %+v (%v), want %v", wc, wc.Err(), verbs.WCRemAccessErr)
	}
	if !bytes.Equal(b.buf.Bytes(), before) {
		t.Error("the refused write changed the region")
	}
}

// A type 1 window, bound with QP.BindMW, grants read access within its
// range; rebinding allocates nothing and changes its rkey; once unbound its
// rkey is refused.
func TestMWType1BindReadUnbind(t *testing.T) {
	ctx := openTestDevice(t)
	a, b := newEnd(t, ctx, 4096), newEnd(t, ctx, 4096)
	needMW(t, ctx, b.pd)
	connect(t, ctx, a, b)
	mr := windowed(t, b)
	mw := allocMW(t, b.pd, verbs.MWType1)
	if mw.Type() != verbs.MWType1 {
		t.Errorf("window type %v", mw.Type())
	}
	const msg = "read through a type 1 window"
	copy(b.buf.Bytes()[2048:], msg)
	wcs := make([]verbs.WorkCompletion, 1)
	bind := func(id uint64, bind verbs.MWBind) {
		old := mw.RKey()
		if err := b.qp.BindMW(mw, id, verbs.SendSignaled, bind); err != nil {
			t.Fatal(err)
		}
		if mw.RKey() != verbs.IncRKey(old) {
			t.Fatalf("rkey %#x after a bind, want %#x", mw.RKey(), verbs.IncRKey(old))
		}
		deadline := time.Now().Add(10 * time.Second)
		for n := 0; n == 0; {
			var err error
			if n, err = b.cq.Poll(wcs); err != nil || time.Now().After(deadline) {
				t.Fatalf("no bind completion: %v", err)
			}
		}
		if wcs[0].Err() != nil || wcs[0].WRID != id || wcs[0].Opcode != verbs.WCBindMW {
			t.Fatalf("bind completion %+v (%v)", wcs[0], wcs[0].Err())
		}
	}
	window := verbs.MWBind{MR: mr, Addr: mr.Addr() + 2048, Length: 256, Access: verbs.AccessRemoteRead}
	bind(60, window)
	if allocs := testing.AllocsPerRun(20, func() { bind(61, window) }); allocs != 0 {
		t.Errorf("BindMW and poll allocated %.1f times per bind, want 0", allocs)
	}
	read := func() verbs.WorkCompletion {
		clear(a.buf.Bytes()[:len(msg)])
		if err := a.qp.PostSend([]verbs.SendWR{{ID: 3, Opcode: verbs.WRRDMARead, Flags: verbs.SendSignaled,
			SGL: []verbs.SGE{a.mr.SGE(0, len(msg))}, RemoteAddr: window.Addr, RKey: mw.RKey()}}); err != nil {
			t.Fatal(err)
		}
		return waitN(t, a.cq, 1)[0]
	}
	if wc := read(); wc.Err() != nil || string(a.buf.Bytes()[:len(msg)]) != msg {
		t.Fatalf("read through the window: %v, got %q", wc.Err(), a.buf.Bytes()[:len(msg)])
	}

	// Length 0 unbinds; the region may then close.
	bind(62, verbs.MWBind{MR: mr})
	wc := read()
	var wcErr *verbs.WCError
	if !errors.As(wc.Err(), &wcErr) || wcErr.Status != verbs.WCRemAccessErr {
		t.Errorf("read through the unbound window completed with %+v (%v), want %v", wc, wc.Err(), verbs.WCRemAccessErr)
	}
}

// Memory windows refuse bad input and closed objects with errors, and keep
// their PD and region open.
func TestMWBadInput(t *testing.T) {
	ctx := openTestDevice(t)
	e := newEnd(t, ctx, 4096)
	needMW(t, ctx, e.pd)
	// Connected, so that a bind that got past the checks would complete.
	connect(t, ctx, e, newEnd(t, ctx, 4096))
	mr := windowed(t, e)
	mw1 := allocMW(t, e.pd, verbs.MWType1)
	mw2 := allocMW(t, e.pd, verbs.MWType2)
	if _, err := e.pd.AllocMW(3); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("AllocMW(3): %v, want EINVAL", err)
	}
	if _, err := (*verbs.PD)(nil).AllocMW(verbs.MWType1); !errors.Is(err, verbs.ErrClosed) {
		t.Errorf("AllocMW on a nil PD: %v, want ErrClosed", err)
	}
	if err := e.pd.Close(); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("PD.Close with live windows: %v, want EBUSY", err)
	}
	var nilMW *verbs.MW
	if err := nilMW.Close(); !errors.Is(err, verbs.ErrClosed) || nilMW.RKey() != 0 || nilMW.Type() != 0 {
		t.Errorf("nil MW: Close %v, RKey %#x, Type %v", err, nilMW.RKey(), nilMW.Type())
	}
	window := verbs.MWBind{MR: mr, Addr: mr.Addr(), Length: 64, Access: verbs.AccessRemoteWrite}
	var pe *verbs.PostError
	for name, wr := range map[string]verbs.SendWR{
		"a type 1 window":           {Opcode: verbs.WRBindMW, MW: mw1, Bind: window},
		"no window":                 {Opcode: verbs.WRBindMW, Bind: window},
		"no region":                 {Opcode: verbs.WRBindMW, MW: mw2},
		"a window on an RDMA write": {Opcode: verbs.WRRDMAWrite, MW: mw2, Bind: window},
	} {
		if err := e.qp.PostSend([]verbs.SendWR{wr}); !errors.As(err, &pe) || pe.Index != 0 || !errors.Is(err, syscall.EINVAL) {
			t.Errorf("PostSend binding %s: %v, want EINVAL at index 0", name, err)
		}
	}
	// A window of another context (whose provider would take the QP for
	// its own) or a region of another PD than the window's.
	other := openTestDevice(t)
	otherPD, err := other.AllocPD()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { otherPD.Close() })
	otherMW1, otherMW2 := allocMW(t, otherPD, verbs.MWType1), allocMW(t, otherPD, verbs.MWType2)
	pd2, err := ctx.AllocPD()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pd2.Close() })
	mw1PD2, mw2PD2 := allocMW(t, pd2, verbs.MWType1), allocMW(t, pd2, verbs.MWType2)
	mrPD2, err := pd2.RegMR(e.buf, 0, 0, verbs.AccessLocalWrite|verbs.AccessMWBind)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mrPD2.Close() })
	windowPD2 := verbs.MWBind{MR: mrPD2, Addr: mrPD2.Addr(), Length: 64, Access: verbs.AccessRemoteWrite}
	// A range past the region's end, which providers leave to the device.
	outside := window
	outside.Addr = mr.Addr() + uint64(mr.Len()) - 32
	for name, wr := range map[string]verbs.SendWR{
		"a window of another context":                  {Opcode: verbs.WRBindMW, MW: otherMW2, Bind: window},
		"a window of another PD than the QP's":         {Opcode: verbs.WRBindMW, MW: mw2PD2, Bind: windowPD2},
		"a region of another PD than the window's":     {Opcode: verbs.WRBindMW, MW: mw2, Bind: windowPD2},
		"a range past the region's end":                {Opcode: verbs.WRBindMW, MW: mw2, Bind: outside},
		"entries (which providers take as the data)":   {Opcode: verbs.WRBindMW, MW: mw2, Bind: window, SGL: []verbs.SGE{mr.SGE(0, 8)}},
		"the inline flag (providers copy the entries)": {Opcode: verbs.WRBindMW, MW: mw2, Bind: window, Flags: verbs.SendInline},
	} {
		if err := e.qp.PostSend([]verbs.SendWR{wr}); !errors.As(err, &pe) || pe.Index != 0 || !errors.Is(err, syscall.EINVAL) {
			t.Errorf("PostSend binding %s: %v, want EINVAL at index 0", name, err)
		}
	}
	for name, err := range map[string]error{
		"a type 2 window":                          e.qp.BindMW(mw2, 1, 0, window),
		"no window":                                e.qp.BindMW(nil, 1, 0, window),
		"no region":                                e.qp.BindMW(mw1, 1, 0, verbs.MWBind{}),
		"a window of another context":              e.qp.BindMW(otherMW1, 1, 0, window),
		"a window of another PD than the QP's":     e.qp.BindMW(mw1PD2, 1, 0, windowPD2),
		"a region of another PD than the window's": e.qp.BindMW(mw1, 1, 0, windowPD2),
		"a range past the region's end":            e.qp.BindMW(mw1, 1, 0, outside),
	} {
		if !errors.Is(err, syscall.EINVAL) {
			t.Errorf("BindMW with %s: %v, want EINVAL", name, err)
		}
	}
	if err := (*verbs.QP)(nil).BindMW(mw1, 1, 0, window); !errors.Is(err, verbs.ErrClosed) {
		t.Errorf("BindMW on a nil QP: %v, want ErrClosed", err)
	}
	if err := mw2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := mw2.Close(); !errors.Is(err, verbs.ErrClosed) {
		t.Errorf("second MW.Close: %v, want ErrClosed", err)
	}
	if err := e.qp.PostSend([]verbs.SendWR{{Opcode: verbs.WRBindMW, MW: mw2, Bind: window}}); !errors.As(err, &pe) || !errors.Is(err, verbs.ErrClosed) {
		t.Errorf("PostSend binding a closed window: %v, want ErrClosed", err)
	}
	if err := e.qp.BindMW(mw1, 1, 0, verbs.MWBind{MR: &verbs.MR{}, Length: 64}); !errors.Is(err, verbs.ErrClosed) {
		t.Errorf("BindMW to an MR never registered: %v, want ErrClosed", err)
	}
	expectEmpty(t, e.cq)
}
