package verbs_test

import (
	"errors"
	"syscall"
	"testing"

	"github.com/go-rdma/rdma/internal/testbed"
	"github.com/go-rdma/rdma/verbs"
)

const testQKey = 0x11111111

// readyUD brings a UD QP to RTS.
func readyUD(t *testing.T, qp *verbs.QP) {
	t.Helper()
	steps := []struct {
		attr verbs.QPAttr
		mask verbs.QPAttrMask
	}{
		{verbs.QPAttr{State: int(verbs.QPStateInit), PortNum: 1, QKey: testQKey},
			verbs.QPAttrState | verbs.QPAttrPKeyIndex | verbs.QPAttrPort | verbs.QPAttrQKey},
		{verbs.QPAttr{State: int(verbs.QPStateRTR)}, verbs.QPAttrState},
		{verbs.QPAttr{State: int(verbs.QPStateRTS), SQPSN: 1}, verbs.QPAttrState | verbs.QPAttrSQPSN},
	}
	for _, s := range steps {
		if err := qp.Modify(&s.attr, s.mask); err != nil {
			t.Fatal(err)
		}
	}
}

// udPair returns two UD ends at RTS on the test device and an AH of a's PD
// that addresses the device's own GID; a device without AHs is a transport
// limitation.
func udPair(t *testing.T) (a, b *end, ah *verbs.AH) {
	t.Helper()
	ctx := openTestDevice(t)
	dev, err := ctx.QueryDevice()
	if err != nil {
		t.Fatal(err)
	}
	if dev.MaxAH == 0 {
		testbed.Limitation(t, "%s: max_ah is 0: no address handles, so no UD", ctx.Name())
	}
	a = newEndWith(t, ctx, 4096, endOpts{typ: verbs.QPTypeUD})
	b = newEndWith(t, ctx, 4096, endOpts{typ: verbs.QPTypeUD})
	readyUD(t, a.qp)
	readyUD(t, b.qp)
	gid := testGID(t, ctx)
	ah, err = a.pd.CreateAH(&verbs.AHAttr{IsGlobal: true, PortNum: 1,
		GRH: verbs.GlobalRoute{DGID: gid.GID, SGIDIndex: uint8(gid.Index), HopLimit: 64}})
	if err != nil {
		t.Fatal(err)
	}
	return a, b, ah
}

func TestUDSendRecvWithAH(t *testing.T) {
	a, b, ah := udPair(t)
	const msg = "a datagram through an AH"
	if err := b.qp.PostRecv([]verbs.RecvWR{{ID: 1, SGL: []verbs.SGE{b.mr.SGE(0, verbs.GRHSize+256)}}}); err != nil {
		t.Fatal(err)
	}
	copy(a.buf.Bytes()[1024:], msg)
	send := []verbs.SendWR{{ID: 2, Opcode: verbs.WRSend, Flags: verbs.SendSignaled, SGL: []verbs.SGE{a.mr.SGE(1024, len(msg))},
		AH: ah, RemoteQPN: b.qp.Num(), RemoteQKey: testQKey}}
	if err := a.qp.PostSend(send); err != nil {
		t.Fatal(err)
	}
	waitOne(t, a.cq)
	wc := waitOne(t, b.cq)
	if wc.Opcode != verbs.WCRecv || wc.ByteLen != uint32(verbs.GRHSize+len(msg)) || wc.Flags&verbs.WCWithGRH == 0 || wc.SrcQP != a.qp.Num() {
		t.Errorf("receive completion %+v", wc)
	}
	if got := string(b.buf.Bytes()[verbs.GRHSize : verbs.GRHSize+len(msg)]); got != msg {
		t.Errorf("received %q", got)
	}

	// Reply through an AH built from the completion and its GRH.
	reply, err := b.pd.CreateAHFromWC(1, &wc, b.buf.Bytes()[:verbs.GRHSize])
	if err != nil {
		t.Fatal(err)
	}
	defer reply.Close()
	if err := a.qp.PostRecv([]verbs.RecvWR{{ID: 3, SGL: []verbs.SGE{a.mr.SGE(2048, verbs.GRHSize+64)}}}); err != nil {
		t.Fatal(err)
	}
	copy(b.buf.Bytes()[3000:], "reply")
	if err := b.qp.PostSend([]verbs.SendWR{{ID: 4, Opcode: verbs.WRSend, Flags: verbs.SendSignaled, SGL: []verbs.SGE{b.mr.SGE(3000, 5)},
		AH: reply, RemoteQPN: wc.SrcQP, RemoteQKey: testQKey}}); err != nil {
		t.Fatal(err)
	}
	waitOne(t, b.cq)
	if wc := waitOne(t, a.cq); wc.SrcQP != b.qp.Num() || string(a.buf.Bytes()[2048+verbs.GRHSize:2048+verbs.GRHSize+5]) != "reply" {
		t.Errorf("reply completion %+v, data %q", wc, a.buf.Bytes()[2048+verbs.GRHSize:2048+verbs.GRHSize+5])
	}

	// The UD post and poll path allocates nothing either.
	recv := []verbs.RecvWR{{ID: 1, SGL: []verbs.SGE{b.mr.SGE(0, verbs.GRHSize+256)}}}
	if allocs := roundTripAllocs(t, a, b, recv, send); allocs != 0 {
		t.Errorf("UD post+poll allocated %.1f times per round trip, want 0", allocs)
	}

	// Only sends go over UD: the remote address of an RDMA or atomic
	// request shares its memory with the AH's pointer, which the provider
	// follows. An AH of another device context is refused too.
	for _, op := range []verbs.WROpcode{verbs.WRRDMAWrite, verbs.WRRDMAWriteWithImm, verbs.WRRDMARead, verbs.WRAtomicCmpAndSwp, verbs.WRAtomicFetchAndAdd} {
		wr := send[0]
		wr.Opcode, wr.RemoteAddr, wr.RKey = op, 0xdeadbeef, 1
		if err := a.qp.PostSend([]verbs.SendWR{wr}); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("UD PostSend of opcode %d: %v, want EINVAL", op, err)
		}
		if l, err := a.qp.NewSendList([]verbs.SendWR{wr}); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("UD NewSendList of opcode %d: %v, want EINVAL", op, err)
			l.Close()
		}
	}
	if l, err := a.qp.NewSendList(send); err != nil {
		t.Error(err)
	} else {
		if err := l.SetRemote(0, 0xdeadbeef, 1); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("SetRemote on a UD send: %v, want EINVAL", err)
		}
		l.Close()
	}
	other := openTestDevice(t)
	otherPD, err := other.AllocPD()
	if err != nil {
		t.Fatal(err)
	}
	defer otherPD.Close()
	gid := testGID(t, other)
	otherAH, err := otherPD.CreateAH(&verbs.AHAttr{IsGlobal: true, PortNum: 1,
		GRH: verbs.GlobalRoute{DGID: gid.GID, SGIDIndex: uint8(gid.Index), HopLimit: 64}})
	if err != nil {
		t.Fatal(err)
	}
	defer otherAH.Close()
	wr := send[0]
	wr.AH = otherAH
	if err := a.qp.PostSend([]verbs.SendWR{wr}); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("UD PostSend through an AH of another context: %v, want EINVAL", err)
	}

	// Lifetimes: the PD outlives its AH; a UD send needs a live AH.
	if err := a.pd.Close(); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("PD.Close with a live AH: %v, want EBUSY", err)
	}
	if err := ah.Close(); err != nil {
		t.Fatal(err)
	}
	var pe *verbs.PostError
	if err := a.qp.PostSend(send); !errors.As(err, &pe) || pe.Index != 0 || !errors.Is(err, verbs.ErrClosed) {
		t.Errorf("PostSend through a closed AH: %v, want ErrClosed at index 0", err)
	}
	send[0].AH = nil
	if err := a.qp.PostSend(send); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("UD PostSend without an AH: %v, want EINVAL", err)
	}
	if err := ah.Close(); !errors.Is(err, verbs.ErrClosed) {
		t.Errorf("second AH.Close: %v, want ErrClosed", err)
	}
}

func TestUCWriteAndSend(t *testing.T) {
	ctx := openTestDevice(t)
	noUCOnIWARP(t, ctx)
	a := newEndWith(t, ctx, 4096, endOpts{typ: verbs.QPTypeUC})
	b := newEndWith(t, ctx, 4096, endOpts{typ: verbs.QPTypeUC})
	connect(t, ctx, a, b)
	copy(a.buf.Bytes(), "unreliable but connected")
	if err := b.qp.PostRecv([]verbs.RecvWR{{ID: 5, SGL: []verbs.SGE{b.mr.SGE(0, 64)}}}); err != nil {
		t.Fatal(err)
	}
	if err := a.qp.PostSend([]verbs.SendWR{
		{ID: 1, Opcode: verbs.WRRDMAWrite, Flags: verbs.SendSignaled, SGL: []verbs.SGE{a.mr.SGE(0, 24)},
			RemoteAddr: b.mr.Addr() + 512, RKey: b.mr.RKey()},
		{ID: 2, Opcode: verbs.WRSendWithImm, Flags: verbs.SendSignaled, SGL: []verbs.SGE{a.mr.SGE(0, 12)}, Imm: 77},
	}); err != nil {
		t.Fatal(err)
	}
	for i, wc := range waitN(t, a.cq, 2) {
		if wc.Err() != nil || wc.WRID != uint64(i+1) {
			t.Errorf("send completion %d: %+v", i, wc)
		}
	}
	if wc := waitOne(t, b.cq); wc.WRID != 5 || wc.ByteLen != 12 || wc.Imm != 77 {
		t.Errorf("receive completion %+v", wc)
	}
	if got := string(b.buf.Bytes()[512:536]); got != "unreliable but connected" {
		t.Errorf("UC write left %q", got)
	}
	if got := string(b.buf.Bytes()[:12]); got != "unreliable b" {
		t.Errorf("UC send delivered %q", got)
	}
}

// noUCOnIWARP skips t, as a transport limitation, on iWARP devices: RC is
// iWARP's only connected service.
func noUCOnIWARP(t *testing.T, ctx *verbs.Context) {
	t.Helper()
	devs, err := verbs.Devices()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		if d.Name == ctx.Name() && d.Transport == verbs.TransportIWARP {
			testbed.Limitation(t, "%s is iWARP, whose only connected service is RC: no UC QPs", d.Name)
		}
	}
}

// TestMulticastAttach: a UD QP attaches to and detaches from a multicast
// group (not from one it is not attached to), and Close of a QP still attached detaches it, where
// ibv_destroy_qp alone fails with EBUSY. (Datagrams reach an attached QP
// once the netdev has joined the group too, as rdma_cm's join does:
// rdmacm's TestMulticast.)
func TestMulticastAttach(t *testing.T) {
	_, b, ah := udPair(t)
	ah.Close()
	// The IPv4-mapped GID of 239.1.2.4, as rdma_cm makes it on RoCE.
	mgid := verbs.GID{10: 0xff, 11: 0xff, 12: 239, 13: 1, 14: 2, 15: 4}
	for range 2 {
		if err := b.qp.AttachMulticast(mgid, 0); err != nil {
			t.Fatal(err)
		}
		if err := b.qp.DetachMulticast(mgid, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.qp.DetachMulticast(mgid, 0); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("DetachMulticast of a group not attached: %v, want EINVAL", err)
	}
	qp, err := b.pd.CreateQP(&verbs.QPInitAttr{Type: verbs.QPTypeUD, SendCQ: b.cq, RecvCQ: b.cq,
		Cap: verbs.QPCap{MaxSendWR: 1, MaxRecvWR: 1, MaxSendSGE: 1, MaxRecvSGE: 1}})
	if err != nil {
		t.Fatal(err)
	}
	readyUD(t, qp)
	if err := qp.AttachMulticast(mgid, 0); err != nil {
		t.Fatal(err)
	}
	if err := qp.Close(); err != nil {
		t.Fatalf("Close of an attached QP: %v", err)
	}
	if err := qp.DetachMulticast(mgid, 0); !errors.Is(err, verbs.ErrClosed) {
		t.Errorf("DetachMulticast of a closed QP: %v, want ErrClosed", err)
	}
}
