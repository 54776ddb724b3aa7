package verbs_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/go-rdma/rdma/internal/testbed"
	"github.com/go-rdma/rdma/verbs"
)

func TestWriteWithImm(t *testing.T) {
	ctx := openTestDevice(t)
	a, b := newEnd(t, ctx, 4096), newEnd(t, ctx, 4096)
	connect(t, ctx, a, b)
	// The write consumes a receive request without touching its SGL.
	untouched := b.buf.Bytes()[:64]
	for i := range untouched {
		untouched[i] = 0xa5
	}
	if err := b.qp.PostRecv([]verbs.RecvWR{{ID: 9, SGL: []verbs.SGE{b.mr.SGE(0, 64)}}}); err != nil {
		t.Fatal(err)
	}
	copy(a.buf.Bytes()[10:], "write with immediate")
	postWithImm(t, ctx, "IBV_WR_RDMA_WRITE_WITH_IMM", func() error {
		return a.qp.PostSend([]verbs.SendWR{{ID: 1, Opcode: verbs.WRRDMAWriteWithImm, Flags: verbs.SendSignaled,
			SGL: []verbs.SGE{a.mr.SGE(10, 20)}, RemoteAddr: b.mr.Addr() + 1000, RKey: b.mr.RKey(), Imm: 0x01020304}})
	})
	if wc := waitOne(t, a.cq); wc.WRID != 1 || wc.Opcode != verbs.WCRDMAWrite {
		t.Errorf("write completion %+v", wc)
	}
	wc := waitOne(t, b.cq)
	if wc.WRID != 9 || wc.Opcode != verbs.WCRecvRDMAWithImm || wc.Flags&verbs.WCWithImm == 0 || wc.Imm != 0x01020304 || wc.ByteLen != 20 {
		t.Errorf("receive completion %+v", wc)
	}
	if got := string(b.buf.Bytes()[1000:1020]); got != "write with immediate" {
		t.Errorf("written %q", got)
	}
	if !bytes.Equal(untouched, bytes.Repeat([]byte{0xa5}, 64)) {
		t.Errorf("the receive buffer changed to %x", untouched)
	}
}

func TestInlineSend(t *testing.T) {
	ctx := openTestDevice(t)
	a, b := newEnd(t, ctx, 4096), newEnd(t, ctx, 4096)
	connect(t, ctx, a, b)
	max := int(a.qp.Cap().MaxInlineData)
	if max < 64 {
		t.Fatalf("MaxInlineData %d, asked for 64", max)
	}
	if err := b.qp.PostRecv([]verbs.RecvWR{{ID: 1, SGL: []verbs.SGE{b.mr.SGE(0, 256)}}}); err != nil {
		t.Fatal(err)
	}
	msg := a.buf.Bytes()[:max]
	for i := range msg {
		msg[i] = byte(i * 7)
	}
	// Inline data is copied by the CPU at post time: overwriting the buffer
	// right after PostSend must not change what arrives.
	if err := a.qp.PostSend([]verbs.SendWR{{ID: 2, Opcode: verbs.WRSend, Flags: verbs.SendSignaled | verbs.SendInline,
		SGL: []verbs.SGE{a.mr.SGE(0, max)}}}); err != nil {
		t.Fatal(err)
	}
	want := bytes.Clone(msg)
	clear(msg)
	waitOne(t, a.cq)
	if wc := waitOne(t, b.cq); wc.ByteLen != uint32(max) {
		t.Errorf("received %d bytes, want %d", wc.ByteLen, max)
	}
	if got := b.buf.Bytes()[:max]; !bytes.Equal(got, want) {
		t.Errorf("received %x, want %x", got, want)
	}

	// Inline entries the provider would copy from bad memory, or more than
	// the QP's inline size, are refused before anything is posted, on this
	// connected QP (where a post that got through would complete).
	closed, err := a.pd.RegMR(a.buf, 0, 0, verbs.AccessLocalWrite)
	if err != nil {
		t.Fatal(err)
	}
	closedKey := closed.LKey()
	closed.Close()
	for name, sgl := range map[string][]verbs.SGE{
		"at address 1":                {{Addr: 1, Length: 8, LKey: a.mr.LKey()}},
		"with an lkey of no region":   {{Addr: a.mr.Addr(), Length: 8, LKey: a.mr.LKey() ^ 0xffff00}},
		"of a closed region":          {{Addr: a.mr.Addr(), Length: 8, LKey: closedKey}},
		"past the region's end":       {a.mr.SGE(4090, 8)},
		"1 byte over the inline size": {a.mr.SGE(0, max+1)},
		"of 2 x 2^31 bytes (a 32-bit sum of 0)": {{Addr: a.mr.Addr(), Length: 1 << 31, LKey: a.mr.LKey()},
			{Addr: a.mr.Addr(), Length: 1 << 31, LKey: a.mr.LKey()}},
	} {
		if err := a.qp.PostSend([]verbs.SendWR{{ID: 9, Opcode: verbs.WRSend, Flags: verbs.SendSignaled | verbs.SendInline, SGL: sgl}}); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("inline entries %s: %v, want EINVAL", name, err)
		}
	}
	expectEmpty(t, a.cq)

	// Checking an inline request's entries against the PD's regions
	// allocates nothing either.
	recv := []verbs.RecvWR{{ID: 1, SGL: []verbs.SGE{b.mr.SGE(0, 256)}}}
	send := []verbs.SendWR{{ID: 2, Opcode: verbs.WRSend, Flags: verbs.SendSignaled | verbs.SendInline, SGL: []verbs.SGE{a.mr.SGE(0, max)}}}
	if allocs := roundTripAllocs(t, a, b, recv, send); allocs != 0 {
		t.Errorf("inline post+poll allocated %.1f times per round trip, want 0", allocs)
	}
}

func TestUnsignaledSends(t *testing.T) {
	ctx := openTestDevice(t)
	a, b := newEnd(t, ctx, 4096), newEnd(t, ctx, 4096)
	connect(t, ctx, a, b)
	recvs := make([]verbs.RecvWR, 3)
	sends := make([]verbs.SendWR, 3)
	for i := range 3 {
		recvs[i] = verbs.RecvWR{ID: uint64(10 + i), SGL: []verbs.SGE{b.mr.SGE(i*100, 100)}}
		sends[i] = verbs.SendWR{ID: uint64(20 + i), Opcode: verbs.WRSend, SGL: []verbs.SGE{a.mr.SGE(i*100, 10+i)}}
	}
	sends[2].Flags = verbs.SendSignaled
	if err := b.qp.PostRecv(recvs); err != nil {
		t.Fatal(err)
	}
	if err := a.qp.PostSend(sends); err != nil {
		t.Fatal(err)
	}
	for i, wc := range waitN(t, b.cq, 3) {
		if wc.Err() != nil || wc.WRID != uint64(10+i) || wc.ByteLen != uint32(10+i) {
			t.Errorf("receive %d: %+v", i, wc)
		}
	}
	if wc := waitOne(t, a.cq); wc.WRID != 22 {
		t.Errorf("the only send completion is for %d, want 22", wc.WRID)
	}
	expectEmpty(t, a.cq)
}

func TestScatterGather(t *testing.T) {
	ctx := openTestDevice(t)
	a, b := newEnd(t, ctx, 4096), newEnd(t, ctx, 4096)
	connect(t, ctx, a, b)
	if a.qp.Cap().MaxSendSGE < 3 || b.qp.Cap().MaxRecvSGE < 2 {
		t.Fatalf("caps %+v / %+v, asked for 4 SGEs", a.qp.Cap(), b.qp.Cap())
	}
	copy(a.buf.Bytes()[0:], "gath")
	copy(a.buf.Bytes()[500:], "ered from ")
	copy(a.buf.Bytes()[2000:], "three pieces")
	if err := b.qp.PostRecv([]verbs.RecvWR{{ID: 1, SGL: []verbs.SGE{b.mr.SGE(100, 6), b.mr.SGE(3000, 100)}}}); err != nil {
		t.Fatal(err)
	}
	if err := a.qp.PostSend([]verbs.SendWR{{ID: 2, Opcode: verbs.WRSend, Flags: verbs.SendSignaled,
		SGL: []verbs.SGE{a.mr.SGE(0, 4), a.mr.SGE(500, 10), a.mr.SGE(2000, 12)}}}); err != nil {
		t.Fatal(err)
	}
	waitOne(t, a.cq)
	if wc := waitOne(t, b.cq); wc.ByteLen != 26 {
		t.Errorf("received %d bytes, want 26", wc.ByteLen)
	}
	got := string(b.buf.Bytes()[100:106]) + string(b.buf.Bytes()[3000:3020])
	if got != "gathered from three pieces" {
		t.Errorf("scattered %q", got)
	}
}

// A post longer than the QP's batch goes in several chains; completions
// come back in posting order.
func TestLongChainCompletionOrder(t *testing.T) {
	ctx := openTestDevice(t)
	const n, batch = 60, 8
	a := newEndWith(t, ctx, 4096, endOpts{batch: batch})
	b := newEndWith(t, ctx, 4096, endOpts{batch: batch})
	connect(t, ctx, a, b)
	recvs := make([]verbs.RecvWR, n)
	sends := make([]verbs.SendWR, n)
	for i := range n {
		a.buf.Bytes()[i] = byte(i)
		recvs[i] = verbs.RecvWR{ID: uint64(1000 + i), SGL: []verbs.SGE{b.mr.SGE(i*64, 64)}}
		sends[i] = verbs.SendWR{ID: uint64(i), Opcode: verbs.WRSend, Flags: verbs.SendSignaled, SGL: []verbs.SGE{a.mr.SGE(i, 1)}}
	}
	if err := b.qp.PostRecv(recvs); err != nil {
		t.Fatal(err)
	}
	if err := a.qp.PostSend(sends); err != nil {
		t.Fatal(err)
	}
	for i, wc := range waitN(t, a.cq, n) {
		if wc.Err() != nil || wc.WRID != uint64(i) {
			t.Fatalf("send completion %d: %+v", i, wc)
		}
	}
	for i, wc := range waitN(t, b.cq, n) {
		if wc.Err() != nil || wc.WRID != uint64(1000+i) || b.buf.Bytes()[i*64] != byte(i) {
			t.Fatalf("receive completion %d: %+v, byte %d", i, wc, b.buf.Bytes()[i*64])
		}
	}
}

func TestAtomics(t *testing.T) {
	ctx := openTestDevice(t)
	dev, err := ctx.QueryDevice()
	if err != nil {
		t.Fatal(err)
	}
	if dev.AtomicCap == verbs.AtomicNone {
		testbed.Limitation(t, "%s: atomic_cap is %v", ctx.Name(), dev.AtomicCap)
	}
	a, b := newEnd(t, ctx, 4096), newEnd(t, ctx, 4096)
	connect(t, ctx, a, b)
	word := b.buf.Bytes()[64:72]
	binary.NativeEndian.PutUint64(word, 5)
	remote := b.mr.Addr() + 64
	post := func(wr verbs.SendWR) uint64 {
		t.Helper()
		wr.Flags = verbs.SendSignaled
		wr.SGL = []verbs.SGE{a.mr.SGE(8, 8)}
		wr.RemoteAddr, wr.RKey = remote, b.mr.RKey()
		if err := a.qp.PostSend([]verbs.SendWR{wr}); err != nil {
			t.Fatal(err)
		}
		waitOne(t, a.cq)
		return binary.NativeEndian.Uint64(a.buf.Bytes()[8:16])
	}
	if old := post(verbs.SendWR{ID: 1, Opcode: verbs.WRAtomicCmpAndSwp, CompareAdd: 5, Swap: 9}); old != 5 {
		t.Errorf("compare-and-swap returned %d, want 5", old)
	}
	if v := binary.NativeEndian.Uint64(word); v != 9 {
		t.Errorf("after compare-and-swap the word is %d, want 9", v)
	}
	if old := post(verbs.SendWR{ID: 2, Opcode: verbs.WRAtomicCmpAndSwp, CompareAdd: 5, Swap: 100}); old != 9 {
		t.Errorf("failing compare-and-swap returned %d, want 9", old)
	}
	if old := post(verbs.SendWR{ID: 3, Opcode: verbs.WRAtomicFetchAndAdd, CompareAdd: 3}); old != 9 {
		t.Errorf("fetch-and-add returned %d, want 9", old)
	}
	if v := binary.NativeEndian.Uint64(word); v != 12 {
		t.Errorf("after fetch-and-add the word is %d, want 12", v)
	}

	// The original value is 8 bytes whatever the entry says (providers
	// write 8): one entry of exactly 8 bytes, or EINVAL and nothing
	// posted, also when a send list's entry changes.
	for name, sgl := range map[string][]verbs.SGE{
		"4 bytes":     {a.mr.SGE(4092, 4)},
		"no entry":    nil,
		"two entries": {a.mr.SGE(0, 4), a.mr.SGE(4, 4)},
		"16 bytes":    {a.mr.SGE(0, 16)},
	} {
		err := a.qp.PostSend([]verbs.SendWR{{ID: 4, Opcode: verbs.WRAtomicFetchAndAdd, Flags: verbs.SendSignaled, SGL: sgl,
			RemoteAddr: remote, RKey: b.mr.RKey(), CompareAdd: 1}})
		if !errors.Is(err, syscall.EINVAL) {
			t.Errorf("fetch-and-add with %s: %v, want EINVAL", name, err)
		}
	}
	expectEmpty(t, a.cq)
	list, err := a.qp.NewSendList([]verbs.SendWR{{ID: 5, Opcode: verbs.WRAtomicFetchAndAdd, SGL: []verbs.SGE{a.mr.SGE(8, 8)},
		RemoteAddr: remote, RKey: b.mr.RKey(), CompareAdd: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer list.Close()
	if err := list.SetSGE(0, 0, a.mr.SGE(4092, 4)); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("SetSGE of a 4-byte entry on an atomic: %v, want EINVAL", err)
	}
}

// A post whose request 3 has too many SGEs posts requests 0-2 and reports
// index 3; a request the provider refuses is reported at its index too.
func TestPostErrorIndex(t *testing.T) {
	ctx := openTestDevice(t)
	a, b := newEnd(t, ctx, 4096), newEnd(t, ctx, 4096)
	connect(t, ctx, a, b)
	tooMany := make([]verbs.SGE, a.qp.Cap().MaxSendSGE+1)
	for i := range tooMany {
		tooMany[i] = a.mr.SGE(i, 1)
	}
	recvs := make([]verbs.RecvWR, 5)
	sends := make([]verbs.SendWR, 5)
	for i := range 5 {
		recvs[i] = verbs.RecvWR{ID: uint64(i), SGL: []verbs.SGE{b.mr.SGE(i*64, 64)}}
		sends[i] = verbs.SendWR{ID: uint64(i), Opcode: verbs.WRSend, Flags: verbs.SendSignaled, SGL: []verbs.SGE{a.mr.SGE(0, 8)}}
	}
	sends[3].SGL = tooMany
	if err := b.qp.PostRecv(recvs); err != nil {
		t.Fatal(err)
	}
	err := a.qp.PostSend(sends)
	var pe *verbs.PostError
	if !errors.As(err, &pe) || pe.Index != 3 || !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("PostSend: %v, want a PostError at index 3 wrapping EINVAL", err)
	}
	for i, wc := range waitN(t, a.cq, 3) {
		if wc.Err() != nil || wc.WRID != uint64(i) {
			t.Errorf("send completion %d: %+v", i, wc)
		}
	}
	waitN(t, b.cq, 3)
	expectEmpty(t, a.cq)

	// Inline data longer than the QP's MaxInlineData is refused before it
	// reaches the provider; the requests before it are posted.
	long := a.buf.Len()
	sends = []verbs.SendWR{
		{ID: 10, Opcode: verbs.WRSend, Flags: verbs.SendSignaled, SGL: []verbs.SGE{a.mr.SGE(0, 8)}},
		{ID: 11, Opcode: verbs.WRSend, Flags: verbs.SendSignaled | verbs.SendInline, SGL: []verbs.SGE{a.mr.SGE(0, long)}},
	}
	err = a.qp.PostSend(sends)
	if !errors.As(err, &pe) || pe.Index != 1 {
		t.Fatalf("PostSend with %d bytes inline: %v, want a PostError at index 1", long, err)
	}
	if wc := waitOne(t, a.cq); wc.WRID != 10 {
		t.Errorf("completion %+v, want request 10", wc)
	}

	if err := b.qp.PostRecv([]verbs.RecvWR{{ID: 1, SGL: []verbs.SGE{b.mr.SGE(0, 64)}}, {ID: 2, SGL: make([]verbs.SGE, b.qp.Cap().MaxRecvSGE+1)}}); !errors.As(err, &pe) || pe.Index != 1 {
		t.Errorf("PostRecv with too many SGEs in request 1: %v", err)
	}
}

// Closed and nil objects, and bad arguments, give errors, never a crash.
func TestPostBadInput(t *testing.T) {
	ctx := openTestDevice(t)
	e := newEnd(t, ctx, 4096)
	var nilQP *verbs.QP
	for name, err := range map[string]error{
		"nil QP PostSend":   nilQP.PostSend([]verbs.SendWR{{}}),
		"nil QP PostRecv":   nilQP.PostRecv([]verbs.RecvWR{{}}),
		"nil QP Modify":     nilQP.Modify(&verbs.QPAttr{}, 0),
		"nil QP Close":      nilQP.Close(),
		"nil AH Close":      (*verbs.AH)(nil).Close(),
		"nil SRQ PostRecv":  (*verbs.SRQ)(nil).PostRecv([]verbs.RecvWR{{}}),
		"nil SRQ ArmLimit":  (*verbs.SRQ)(nil).ArmLimit(1),
		"nil SRQ Close":     (*verbs.SRQ)(nil).Close(),
		"nil MR Rereg":      (*verbs.MR)(nil).Rereg(verbs.AccessLocalWrite),
		"nil Context Event": func() error { _, err := (*verbs.Context)(nil).Events(); return err }(),
	} {
		if !errors.Is(err, verbs.ErrClosed) {
			t.Errorf("%s: %v, want ErrClosed", name, err)
		}
	}
	if got := (*verbs.MR)(nil).SGE(0, 1); got != (verbs.SGE{Length: 1}) {
		t.Errorf("nil MR SGE = %+v", got)
	}
	if err := e.qp.PostRecv(nil); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("PostRecv(nil): %v, want EINVAL", err)
	}
	ah := &verbs.AH{}
	if err := e.qp.PostSend([]verbs.SendWR{{Opcode: verbs.WRSend, AH: ah}}); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("PostSend with an AH on an RC QP: %v, want EINVAL", err)
	}
	if _, err := e.pd.CreateSRQ(&verbs.SRQInitAttr{MaxWR: -1}); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("CreateSRQ(MaxWR -1): %v, want EINVAL", err)
	}
	if _, err := e.pd.CreateAH(nil); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("CreateAH(nil): %v, want EINVAL", err)
	}
	if _, err := ctx.InitAHFromWC(1, &verbs.WorkCompletion{}, make([]byte, 10)); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("InitAHFromWC with a 10-byte GRH: %v, want EINVAL", err)
	}
	qp, err := e.pd.CreateQP(&verbs.QPInitAttr{Type: verbs.QPTypeRC, SendCQ: e.cq, RecvCQ: e.cq, Cap: verbs.QPCap{MaxSendWR: 1, MaxRecvWR: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := qp.Close(); err != nil {
		t.Fatal(err)
	}
	for i, err := range []error{
		qp.PostSend([]verbs.SendWR{{}}), qp.PostRecv([]verbs.RecvWR{{}}), qp.Modify(&verbs.QPAttr{}, 0),
		func() error { _, err := qp.Query(); return err }(), qp.Close(),
	} {
		if !errors.Is(err, verbs.ErrClosed) {
			t.Errorf("call %d on a closed QP: %v, want ErrClosed", i, err)
		}
	}
}

// Requests that crash or lose work in a provider are refused before it
// sees them: an empty entry among several (siw, Linux 6.1, follows a null
// pointer sending one that a non-empty entry follows, an oops that leaves
// the guest hung), inline data on an RDMA read or an atomic (siw loses an
// inline read posted with another request: no completion), an entry whose
// lkey names no region of the QP's PD (siw neither executes nor completes
// one of another PD), an unknown flag, on siw a fenced RDMA read (which it
// refuses with EIO as its send queue stops). The requests before a refused one
// are posted, and nothing after. A lone empty entry still sends an empty
// message.
func TestPostRefusesWhatProvidersMishandle(t *testing.T) {
	ctx := openTestDevice(t)
	a, b := newEnd(t, ctx, 4096), newEnd(t, ctx, 4096)
	connect(t, ctx, a, b)
	raddr, rkey := b.mr.Addr(), b.mr.RKey()
	write := verbs.SendWR{ID: 1, Opcode: verbs.WRRDMAWrite, Flags: verbs.SendSignaled, SGL: []verbs.SGE{a.mr.SGE(0, 8)},
		RemoteAddr: raddr, RKey: rkey}
	for name, wr := range map[string]verbs.SendWR{
		"a send, its first of two entries empty": {Opcode: verbs.WRSend, SGL: []verbs.SGE{a.mr.SGE(0, 0), a.mr.SGE(64, 8)}},
		"a write, its last of two entries empty": {Opcode: verbs.WRRDMAWrite, SGL: []verbs.SGE{a.mr.SGE(0, 8), a.mr.SGE(64, 0)},
			RemoteAddr: raddr, RKey: rkey},
		"an inline read":            {Opcode: verbs.WRRDMARead, Flags: verbs.SendInline, SGL: []verbs.SGE{a.mr.SGE(0, 8)}, RemoteAddr: raddr, RKey: rkey},
		"an inline read of nothing": {Opcode: verbs.WRRDMARead, Flags: verbs.SendInline, RemoteAddr: raddr, RKey: rkey},
		"an inline atomic": {Opcode: verbs.WRAtomicFetchAndAdd, Flags: verbs.SendInline, SGL: []verbs.SGE{a.mr.SGE(0, 8)},
			RemoteAddr: raddr, RKey: rkey, CompareAdd: 1},
		"an entry of another PD's region": {Opcode: verbs.WRSend, SGL: []verbs.SGE{b.mr.SGE(0, 8)}},
		"an entry of no region":           {Opcode: verbs.WRRDMARead, SGL: []verbs.SGE{{Addr: a.mr.Addr(), Length: 8, LKey: a.mr.LKey() ^ 0xffff00}}, RemoteAddr: raddr, RKey: rkey},
		"an unknown flag":                 {Opcode: verbs.WRSend, Flags: 1 << 7, SGL: []verbs.SGE{a.mr.SGE(0, 8)}},
	} {
		wr.ID, wr.Flags = 2, wr.Flags|verbs.SendSignaled
		var pe *verbs.PostError
		if err := a.qp.PostSend([]verbs.SendWR{write, wr}); !errors.As(err, &pe) || pe.Index != 1 || !errors.Is(err, syscall.EINVAL) {
			t.Errorf("PostSend of a write and %s: %v, want a *PostError at 1 wrapping EINVAL", name, err)
		}
		if wc := waitOne(t, a.cq); wc.WRID != 1 {
			t.Errorf("%s: completion %+v, want the write's", name, wc)
		}
		if l, err := a.qp.NewSendList([]verbs.SendWR{wr}); !errors.Is(err, syscall.EINVAL) || l != nil {
			t.Errorf("NewSendList of %s: %v, want EINVAL", name, err)
		}
	}
	expectEmpty(t, a.cq)

	// siw answers a fenced RDMA read with EIO and stops the QP's send
	// queue: nothing posted after it completes.
	dev, err := ctx.QueryDevice()
	if err != nil {
		t.Fatal(err)
	}
	fenced := verbs.SendWR{ID: 5, Opcode: verbs.WRRDMARead, Flags: verbs.SendSignaled | verbs.SendFence,
		SGL: []verbs.SGE{a.mr.SGE(0, 8)}, RemoteAddr: raddr, RKey: rkey}
	if err := a.qp.PostSend([]verbs.SendWR{fenced}); dev.VendorID == 0x626d74 {
		if !errors.Is(err, syscall.EINVAL) {
			t.Errorf("siw: a fenced read: %v, want EINVAL", err)
		}
	} else if err != nil {
		t.Errorf("a fenced read: %v", err)
	} else if wc := waitOne(t, a.cq); wc.WRID != 5 {
		t.Errorf("fenced read: completion %+v", wc)
	}

	if err := b.qp.PostRecv([]verbs.RecvWR{{ID: 3, SGL: []verbs.SGE{b.mr.SGE(0, 64)}}}); err != nil {
		t.Fatal(err)
	}
	if err := a.qp.PostSend([]verbs.SendWR{{ID: 4, Opcode: verbs.WRSend, Flags: verbs.SendSignaled, SGL: []verbs.SGE{a.mr.SGE(0, 0)}}}); err != nil {
		t.Fatalf("a send of one empty entry: %v", err)
	}
	if wc := waitOne(t, a.cq); wc.WRID != 4 {
		t.Errorf("empty send: completion %+v", wc)
	}
	if wc := waitOne(t, b.cq); wc.WRID != 3 || wc.ByteLen != 0 {
		t.Errorf("empty send: receive %+v, want 0 bytes", wc)
	}

	list, err := a.qp.NewSendList([]verbs.SendWR{
		{Opcode: verbs.WRSend, SGL: []verbs.SGE{a.mr.SGE(0, 8), a.mr.SGE(64, 8)}},
		{Opcode: verbs.WRRDMARead, SGL: []verbs.SGE{a.mr.SGE(0, 8)}, RemoteAddr: raddr, RKey: rkey},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer list.Close()
	if err := list.SetSGE(0, 1, a.mr.SGE(0, 0)); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("SetSGE emptying one of two entries: %v, want EINVAL", err)
	}
	if err := list.SetFlags(1, verbs.SendSignaled|verbs.SendInline); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("SetFlags making a read inline: %v, want EINVAL", err)
	}
	if err := list.SetFlags(0, verbs.SendSignaled|1<<7); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("SetFlags with an unknown flag: %v, want EINVAL", err)
	}
}

// TestPostBeforeReady: on IB and RoCE, a send to a QP that has not reached
// RTS and a receive to a QP in RESET are refused with ErrNotReady, through
// PostSend, a send list and PostRecv, and none of them is sent later. (rxe
// queues such a send although its doorbell fails, and sent it once the QP
// reached RTS, into the peer's first receive.)
func TestPostBeforeReady(t *testing.T) {
	ctx := openTestDevice(t)
	if isIWARP(t, ctx) {
		testbed.Limitation(t, "iWARP QPs are moved by the kernel's connection manager, unrecorded in user space, "+
			"and siw reports no QP state: posts are not checked against the QP's state")
	}
	a, b := newEnd(t, ctx, 4096), newEnd(t, ctx, 4096)
	copy(a.buf.Bytes(), "early")
	copy(a.buf.Bytes()[100:], "ready")
	early := []verbs.SendWR{{ID: 1, Opcode: verbs.WRSend, Flags: verbs.SendSignaled, SGL: []verbs.SGE{a.mr.SGE(0, 5)}}}
	list, err := a.qp.NewSendList(early)
	if err != nil {
		t.Fatal(err)
	}
	defer list.Close()
	recv := []verbs.RecvWR{{ID: 7, SGL: []verbs.SGE{b.mr.SGE(0, 64)}}}
	refused := func(state string, posts map[string]error) {
		t.Helper()
		for what, err := range posts {
			var pe *verbs.PostError
			if !errors.Is(err, verbs.ErrNotReady) || !errors.Is(err, syscall.EINVAL) || !errors.As(err, &pe) || pe.Index != 0 {
				t.Errorf("%s in %s: %v, want a *PostError at index 0 wrapping ErrNotReady", what, state, err)
			}
		}
	}
	refused("RESET", map[string]error{"PostRecv": b.qp.PostRecv(recv), "PostSend": a.qp.PostSend(early), "SendList.Post": list.Post(1)})
	init := verbs.QPAttr{State: int(verbs.QPStateInit), PortNum: 1, AccessFlags: int(verbs.AccessLocalWrite | verbs.AccessRemoteWrite)}
	for _, e := range []*end{a, b} {
		if err := e.qp.Modify(&init, verbs.QPAttrState|verbs.QPAttrPKeyIndex|verbs.QPAttrPort|verbs.QPAttrAccessFlags); err != nil {
			t.Fatal(err)
		}
	}
	refused("INIT", map[string]error{"PostSend": a.qp.PostSend(early), "SendList.PostChains": list.PostChains(1, 1)})
	if err := b.qp.PostRecv(recv); err != nil {
		t.Fatalf("PostRecv in INIT: %v", err)
	}
	connectByHand(t, ctx, a, b)
	if err := a.qp.PostSend([]verbs.SendWR{{ID: 2, Opcode: verbs.WRSend, Flags: verbs.SendSignaled, SGL: []verbs.SGE{a.mr.SGE(100, 5)}}}); err != nil {
		t.Fatal(err)
	}
	if wc := waitOne(t, a.cq); wc.WRID != 2 {
		t.Errorf("send completion %+v, want request 2's", wc)
	}
	if wc := waitOne(t, b.cq); wc.WRID != 7 || string(b.buf.Bytes()[:wc.ByteLen]) != "ready" {
		t.Errorf("receive completion %+v with %q, want request 7's with \"ready\"", wc, b.buf.Bytes()[:wc.ByteLen])
	}
	time.Sleep(50 * time.Millisecond)
	expectEmpty(t, a.cq)
	expectEmpty(t, b.cq)
}
