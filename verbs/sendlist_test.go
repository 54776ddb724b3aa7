package verbs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/go-rdma/rdma/verbs"
)

// A send list longer than the QP's batch is built in several chunks into
// one chain; posting it, or its first requests, sends what its requests
// say, and SetID and SetFlags change what later posts do.
func TestSendList(t *testing.T) {
	ctx := openTestDevice(t)
	a, b := newEndWith(t, ctx, 4096, endOpts{batch: 4}), newEnd(t, ctx, 4096)
	connect(t, ctx, a, b)
	const n = 10
	wrs := make([]verbs.SendWR, n)
	src := a.buf.Bytes()
	for i := range n - 1 {
		copy(src[i*8:], bytes.Repeat([]byte{byte('a' + i)}, 8))
		wrs[i] = verbs.SendWR{ID: uint64(100 + i), Opcode: verbs.WRRDMAWrite, SGL: []verbs.SGE{a.mr.SGE(i*8, 8)},
			RemoteAddr: b.mr.Addr() + 1000 + uint64(i*8), RKey: b.mr.RKey()}
	}
	copy(src[2000:], "the list's last request")
	wrs[n-1] = verbs.SendWR{ID: 100 + n - 1, Opcode: verbs.WRSend, Flags: verbs.SendSignaled,
		SGL: []verbs.SGE{a.mr.SGE(2000, 23)}}
	list, err := a.qp.NewSendList(wrs)
	if err != nil {
		t.Fatal(err)
	}
	defer list.Close()
	if list.Len() != n {
		t.Errorf("Len %d, want %d", list.Len(), n)
	}
	// The list keeps its own copy of the requests.
	clear(wrs)
	if err := b.qp.PostRecv([]verbs.RecvWR{{ID: 1, SGL: []verbs.SGE{b.mr.SGE(3000, 64)}}}); err != nil {
		t.Fatal(err)
	}
	if err := list.Post(n); err != nil {
		t.Fatal(err)
	}
	if wc := waitOne(t, a.cq); wc.WRID != 100+n-1 || wc.Opcode != verbs.WCSend {
		t.Errorf("send completion %+v, want request %d", wc, 100+n-1)
	}
	if wc := waitOne(t, b.cq); wc.Opcode != verbs.WCRecv || wc.ByteLen != 23 || string(b.buf.Bytes()[3000:3023]) != "the list's last request" {
		t.Errorf("receive completion %+v, data %q", wc, b.buf.Bytes()[3000:3023])
	}
	for i := range n - 1 {
		if got := b.buf.Bytes()[1000+i*8 : 1008+i*8]; !bytes.Equal(got, bytes.Repeat([]byte{byte('a' + i)}, 8)) {
			t.Errorf("request %d wrote %q", i, got)
		}
	}
	expectEmpty(t, a.cq)

	// The first request alone, signaled and renamed; it reads its memory
	// again at this post.
	copy(src, "12345678")
	if err := list.SetFlags(0, verbs.SendSignaled); err != nil {
		t.Fatal(err)
	}
	if err := list.SetID(0, 7); err != nil {
		t.Fatal(err)
	}
	if err := list.Post(1); err != nil {
		t.Fatal(err)
	}
	if wc := waitOne(t, a.cq); wc.WRID != 7 || wc.Opcode != verbs.WCRDMAWrite {
		t.Errorf("completion %+v, want request 7's write", wc)
	}
	if got := string(b.buf.Bytes()[1000:1008]); got != "12345678" {
		t.Errorf("the second post wrote %q", got)
	}
	expectEmpty(t, a.cq)

	// Request 1 redirected: another source and destination, and signaled.
	if err := list.SetSGE(1, 0, a.mr.SGE(2000, 8)); err != nil {
		t.Fatal(err)
	}
	if err := list.SetRemote(1, b.mr.Addr()+1500, b.mr.RKey()); err != nil {
		t.Fatal(err)
	}
	if err := list.SetFlags(1, verbs.SendSignaled); err != nil {
		t.Fatal(err)
	}
	if err := list.Post(2); err != nil {
		t.Fatal(err)
	}
	for i, wc := range waitN(t, a.cq, 2) {
		if want := []uint64{7, 101}[i]; wc.Err() != nil || wc.WRID != want {
			t.Errorf("completion %d: %+v, want request %d", i, wc, want)
		}
	}
	if got := string(b.buf.Bytes()[1500:1508]); got != "the list" {
		t.Errorf("the redirected request wrote %q", got)
	}
	if got := string(b.buf.Bytes()[1008:1016]); got != "bbbbbbbb" {
		t.Errorf("request 1's first destination changed to %q", got)
	}
	expectEmpty(t, a.cq)

	// Posting a list allocates nothing.
	wcs := make([]verbs.WorkCompletion, 4)
	allocs := testing.AllocsPerRun(50, func() {
		if err := list.Post(1); err != nil {
			t.Fatal(err)
		}
		for got := 0; got == 0; {
			if got, err = a.cq.Poll(wcs); err != nil || (got > 0 && wcs[0].Err() != nil) {
				t.Fatal(err, wcs[0].Err())
			}
		}
	})
	if allocs != 0 {
		t.Errorf("SendList.Post and Poll allocated %.1f times, want 0", allocs)
	}

	for name, err := range map[string]error{
		"Post(0)":             list.Post(0),
		"Post(Len+1)":         list.Post(n + 1),
		"SetFlags(Len)":       list.SetFlags(n, 0),
		"SetID(-1)":           list.SetID(-1, 0),
		"SetFlags(-1, …)":     list.SetFlags(-1, verbs.SendSignaled),
		"SetRemote on a send": list.SetRemote(n-1, b.mr.Addr(), b.mr.RKey()),
		"SetImm on a write":   list.SetImm(0, 1),
		"SetSGE(0, 1)":        list.SetSGE(0, 1, a.mr.SGE(0, 8)),
		"SetSGE(0, -1)":       list.SetSGE(0, -1, a.mr.SGE(0, 8)),
		"SetSGE(Len, 0)":      list.SetSGE(n, 0, a.mr.SGE(0, 8)),
	} {
		if !errors.Is(err, syscall.EINVAL) {
			t.Errorf("%s: %v, want EINVAL", name, err)
		}
	}
	expectEmpty(t, a.cq)
}

// PostChains posts a list's first requests as consecutive chains, in
// order, whatever the chain length; a request the provider refuses stops it
// there: the chains before it were posted, nothing after it was.
func TestSendListPostChains(t *testing.T) {
	ctx := openTestDevice(t)
	a, b := newEnd(t, ctx, 4096), newEnd(t, ctx, 4096)
	connect(t, ctx, a, b)
	const n = 7
	wrs := make([]verbs.SendWR, n)
	src := a.buf.Bytes()
	for i := range n {
		wrs[i] = verbs.SendWR{ID: uint64(100 + i), Opcode: verbs.WRRDMAWrite, Flags: verbs.SendSignaled,
			SGL: []verbs.SGE{a.mr.SGE(i*8, 8)}, RemoteAddr: b.mr.Addr() + 1000 + uint64(i*8), RKey: b.mr.RKey()}
	}
	list, err := a.qp.NewSendList(wrs)
	if err != nil {
		t.Fatal(err)
	}
	defer list.Close()
	// want checks the completions of requests 0 … posted-1, in order, that
	// each wrote its 8 bytes of round r (byte r+i for request i) and that
	// the others left the previous round's (r-16+i) in place.
	want := func(name string, r byte, posted int) {
		t.Helper()
		for i, wc := range waitN(t, a.cq, posted) {
			if wc.Err() != nil || wc.WRID != uint64(100+i) {
				t.Errorf("%s: completion %d %+v, want request %d", name, i, wc, 100+i)
			}
		}
		expectEmpty(t, a.cq)
		for i := range n {
			got, w := b.buf.Bytes()[1000+i*8:1008+i*8], bytes.Repeat([]byte{r + byte(i)}, 8)
			if i >= posted {
				w = bytes.Repeat([]byte{r - 16 + byte(i)}, 8)
			}
			if !bytes.Equal(got, w) {
				t.Errorf("%s: request %d wrote %q, want %q", name, i, got, w)
			}
		}
	}
	for _, tc := range []struct {
		name string
		r    byte
		per  int
	}{{"one by one", 'a', 1}, {"chains of 3", 'a' + 16, 3}, {"one chain", 'a' + 32, n + 5}} {
		for i := range n {
			copy(src[i*8:], bytes.Repeat([]byte{tc.r + byte(i)}, 8))
		}
		if err := list.PostChains(n, tc.per); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		want(tc.name, tc.r, n)
	}

	// Request 4 an atomic the provider refuses when it is posted (rxe: its
	// remote address is not 8-byte aligned; siw: no atomics): in chains of
	// 2, requests 0-3 go, 4 is refused at the head of its chain, 5 and 6 are
	// not posted.
	const r = 'a' + 48
	for i := range n {
		copy(src[i*8:], bytes.Repeat([]byte{r + byte(i)}, 8))
	}
	refused := slices.Clone(wrs)
	refused[4].Opcode, refused[4].RemoteAddr = verbs.WRAtomicFetchAndAdd, b.mr.Addr()+1
	bad, err := a.qp.NewSendList(refused)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	err = bad.PostChains(n, 2)
	var pe *verbs.PostError
	if !errors.As(err, &pe) || pe.Index != 4 {
		t.Fatalf("PostChains with request 4 refused: %v, want a PostError at index 4", err)
	}
	want("a refusal", r, 4)

	// Posting chains allocates nothing.
	wcs := make([]verbs.WorkCompletion, 4)
	allocs := testing.AllocsPerRun(20, func() {
		if err := list.PostChains(3, 1); err != nil {
			t.Fatal(err)
		}
		for got := 0; got < 3; {
			m, err := a.cq.Poll(wcs)
			if err != nil {
				t.Fatal(err)
			}
			for _, wc := range wcs[:m] {
				if wc.Err() != nil {
					t.Fatal(wc.Err())
				}
			}
			got += m
		}
	})
	if allocs != 0 {
		t.Errorf("SendList.PostChains and Poll allocated %.1f times, want 0", allocs)
	}

	for name, err := range map[string]error{
		"PostChains(0, 1)":     list.PostChains(0, 1),
		"PostChains(Len+1, 1)": list.PostChains(n+1, 1),
		"PostChains(1, 0)":     list.PostChains(1, 0),
		"PostChains(2, -1)":    list.PostChains(2, -1),
	} {
		if !errors.Is(err, syscall.EINVAL) || errors.As(err, &pe) {
			t.Errorf("%s: %v, want EINVAL", name, err)
		}
	}
	expectEmpty(t, a.cq)
}

// PostAfter posts a list's requests once a completion arrives, in the same
// call: the ping comes in, the pong goes out. With no completion before ctx
// is done nothing is posted, and a post the provider refuses comes back as
// a *PostError with the completion that started it.
func TestSendListPostAfter(t *testing.T) {
	ctx := openTestDevice(t)
	a, b := newEnd(t, ctx, 4096), newEnd(t, ctx, 4096)
	connect(t, ctx, a, b)
	copy(a.buf.Bytes(), "ping")
	copy(b.buf.Bytes()[100:], "pong")
	ping := []verbs.SendWR{{ID: 3, Opcode: verbs.WRSend, Flags: verbs.SendSignaled, SGL: []verbs.SGE{a.mr.SGE(0, 4)}}}
	aRecv := []verbs.RecvWR{{ID: 1, SGL: []verbs.SGE{a.mr.SGE(200, 64)}}}
	bRecv := []verbs.RecvWR{{ID: 2, SGL: []verbs.SGE{b.mr.SGE(0, 64)}}}
	pong, err := b.qp.NewSendList([]verbs.SendWR{{ID: 9, Opcode: verbs.WRSend, Flags: verbs.SendSignaled,
		SGL: []verbs.SGE{b.mr.SGE(100, 4)}}})
	if err != nil {
		t.Fatal(err)
	}
	defer pong.Close()
	if err := a.qp.PostRecv(aRecv); err != nil {
		t.Fatal(err)
	}
	if err := b.qp.PostRecv(bRecv); err != nil {
		t.Fatal(err)
	}
	wcs := make([]verbs.WorkCompletion, 1)

	// Nothing arrives: nothing is posted.
	wait, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	got, err := pong.PostAfter(wait, b.cq, wcs, 1)
	cancel()
	if got != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("PostAfter with nothing coming: %d, %v, want 0 and DeadlineExceeded", got, err)
	}
	time.Sleep(20 * time.Millisecond)
	expectEmpty(t, a.cq)
	expectEmpty(t, b.cq)

	// pingPong sends a ping from a and has b answer it with PostAfter; it
	// returns PostAfter's count and error.
	pingPong := func() (int, error) {
		t.Helper()
		if err := a.qp.PostSend(ping); err != nil {
			t.Fatal(err)
		}
		return pong.PostAfter(context.Background(), b.cq, wcs, 1)
	}
	got, err = pingPong()
	if err != nil || got != 1 || wcs[0].Err() != nil || wcs[0].Opcode != verbs.WCRecv || wcs[0].WRID != 2 || wcs[0].ByteLen != 4 {
		t.Fatalf("PostAfter: %d, %v, completion %+v, want the ping's receive", got, err, wcs[0])
	}
	if got := string(b.buf.Bytes()[:4]); got != "ping" {
		t.Errorf("b received %q", got)
	}
	for _, wc := range waitN(t, a.cq, 2) {
		if wc.Err() != nil || (wc.WRID != 3 && (wc.WRID != 1 || wc.ByteLen != 4)) {
			t.Errorf("a's completion %+v, want its ping's send and the pong's receive", wc)
		}
	}
	if got := string(a.buf.Bytes()[200:204]); got != "pong" {
		t.Errorf("a received %q", got)
	}
	if wc := waitOne(t, b.cq); wc.WRID != 9 || wc.Opcode != verbs.WCSend {
		t.Errorf("b's completion %+v, want the pong's send", wc)
	}

	// A ping-pong turn allocates nothing.
	allocs := testing.AllocsPerRun(20, func() {
		if err := a.qp.PostRecv(aRecv); err != nil {
			t.Fatal(err)
		}
		if err := b.qp.PostRecv(bRecv); err != nil {
			t.Fatal(err)
		}
		if got, err := pingPong(); got != 1 || err != nil || wcs[0].Err() != nil {
			t.Fatal(got, err, wcs[0].Err())
		}
		for got := 0; got < 3; {
			n, err := a.cq.Poll(wcs)
			if err != nil {
				t.Fatal(err)
			}
			m, err := b.cq.Poll(wcs)
			if err != nil {
				t.Fatal(err)
			}
			got += n + m
		}
	})
	if allocs != 0 {
		t.Errorf("a PostAfter ping-pong allocated %.1f times, want 0", allocs)
	}

	// A pong the provider refuses when it is posted (an atomic, as in
	// TestSendListPostChains): the ping's receive is returned, the pong
	// refused.
	if pong, err = b.qp.NewSendList([]verbs.SendWR{{ID: 9, Opcode: verbs.WRAtomicFetchAndAdd, Flags: verbs.SendSignaled,
		SGL: []verbs.SGE{b.mr.SGE(0, 8)}, RemoteAddr: a.mr.Addr() + 1, RKey: a.mr.RKey()}}); err != nil {
		t.Fatal(err)
	}
	defer pong.Close()
	if err := b.qp.PostRecv(bRecv); err != nil {
		t.Fatal(err)
	}
	got, err = pingPong()
	var pe *verbs.PostError
	if got != 1 || wcs[0].WRID != 2 || !errors.As(err, &pe) || pe.Index != 0 {
		t.Errorf("PostAfter with a refused pong: %d, %v, completion %+v, want the receive and a PostError at 0", got, err, wcs[0])
	}
	if wc := waitOne(t, a.cq); wc.WRID != 3 {
		t.Errorf("a's completion %+v, want its ping's send", wc)
	}
	time.Sleep(20 * time.Millisecond)
	expectEmpty(t, a.cq)
	expectEmpty(t, b.cq)

	spare, err := ctx.CreateCQ(4, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := spare.Close(); err != nil {
		t.Fatal(err)
	}
	bg := context.Background()
	var nilCQ *verbs.CQ
	for name, tc := range map[string]struct {
		n    int
		cq   *verbs.CQ
		wcs  []verbs.WorkCompletion
		want error
	}{
		"n 0":         {0, b.cq, wcs, syscall.EINVAL},
		"n Len+1":     {2, b.cq, wcs, syscall.EINVAL},
		"no room":     {1, b.cq, nil, syscall.EINVAL},
		"a nil CQ":    {1, nilCQ, wcs, verbs.ErrClosed},
		"a closed CQ": {1, spare, wcs, verbs.ErrClosed},
	} {
		if got, err := pong.PostAfter(bg, tc.cq, tc.wcs, tc.n); got != 0 || !errors.Is(err, tc.want) || errors.As(err, &pe) {
			t.Errorf("PostAfter with %s: %d, %v, want %v", name, got, err, tc.want)
		}
	}

	// The CQ, or the list, closed while PostAfter spins: the call returns
	// and posts nothing.
	idle, err := ctx.CreateCQ(4, nil)
	if err != nil {
		t.Fatal(err)
	}
	closeUnder(t, "PostAfter (the CQ)", func() error { return errPostAfter(pong.PostAfter(bg, idle, wcs, 1)) }, idle.Close)
	closeUnder(t, "PostAfter (the list)", func() error { return errPostAfter(pong.PostAfter(bg, a.cq, wcs, 1)) }, pong.Close)
	time.Sleep(20 * time.Millisecond)
	expectEmpty(t, a.cq)
	expectEmpty(t, b.cq)
}

// Building a list validates every request as PostSend does, and a closed or
// nil list or QP gives ErrClosed, never a crash.
func TestSendListBadInput(t *testing.T) {
	ctx := openTestDevice(t)
	e := newEnd(t, ctx, 4096)
	tooMany := make([]verbs.SGE, e.qp.Cap().MaxSendSGE+1)
	send := verbs.SendWR{Opcode: verbs.WRSend, SGL: []verbs.SGE{e.mr.SGE(0, 8)}}
	var pe *verbs.PostError
	for name, wrs := range map[string][]verbs.SendWR{
		"no requests":       nil,
		"too many SGEs":     {send, send, {Opcode: verbs.WRSend, SGL: tooMany}},
		"a bind request":    {{Opcode: verbs.WRBindMW}},
		"an AH on an RC QP": {send, {Opcode: verbs.WRSend, AH: &verbs.AH{}}},
		"an MW on a send":   {{Opcode: verbs.WRSend, MW: &verbs.MW{}}},
	} {
		l, err := e.qp.NewSendList(wrs)
		if !errors.Is(err, syscall.EINVAL) || errors.As(err, &pe) || l != nil {
			t.Errorf("NewSendList with %s: %v, %v, want EINVAL", name, l, err)
		}
	}
	if _, err := e.qp.NewSendList([]verbs.SendWR{send, send, {Opcode: verbs.WRSend, SGL: tooMany}}); err == nil ||
		!bytes.Contains([]byte(err.Error()), []byte("work request 2")) {
		t.Errorf("NewSendList names the bad request: %v", err)
	}
	if l, err := e.qp.NewSendList([]verbs.SendWR{{Opcode: verbs.WRSend}}); err != nil {
		t.Errorf("NewSendList of a zero-length send: %v", err)
	} else if err := l.Close(); err != nil {
		t.Error(err)
	}

	// Entries must lie inside an open region of the QP's PD, when built
	// and when changed, and fit the inline size once inline.
	maxInline := int(e.qp.Cap().MaxInlineData)
	big := verbs.SendWR{Opcode: verbs.WRSend, SGL: []verbs.SGE{e.mr.SGE(0, maxInline+1)}}
	bigList, err := e.qp.NewSendList([]verbs.SendWR{big, send})
	if err != nil {
		t.Fatal(err)
	}
	defer bigList.Close()
	otherPD, err := ctx.AllocPD()
	if err != nil {
		t.Fatal(err)
	}
	defer otherPD.Close()
	otherMR, err := otherPD.RegMR(e.buf, 0, 0, verbs.AccessLocalWrite)
	if err != nil {
		t.Fatal(err)
	}
	defer otherMR.Close()
	for name, sge := range map[string]verbs.SGE{
		"an lkey of no region":          {Addr: e.mr.Addr(), Length: 8, LKey: e.mr.LKey() ^ 0xffff00},
		"a region of another PD":        otherMR.SGE(0, 8),
		"an address before the region":  {Addr: e.mr.Addr() - 8, Length: 16, LKey: e.mr.LKey()},
		"past the region's end":         e.mr.SGE(4090, 8),
		"address 1":                     {Addr: 1, Length: 8, LKey: e.mr.LKey()},
		"a length wrapping the address": {Addr: e.mr.Addr() + 8, Length: math.MaxUint32, LKey: e.mr.LKey()},
	} {
		if l, err := e.qp.NewSendList([]verbs.SendWR{{Opcode: verbs.WRSend, SGL: []verbs.SGE{sge}}}); !errors.Is(err, syscall.EINVAL) || l != nil {
			t.Errorf("NewSendList with an entry of %s: %v, want EINVAL", name, err)
		}
		if err := bigList.SetSGE(1, 0, sge); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("SetSGE to an entry of %s: %v, want EINVAL", name, err)
		}
	}
	if err := bigList.SetFlags(0, verbs.SendInline); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("SetFlags(SendInline) on a request of %d bytes, inline size %d: %v, want EINVAL", maxInline+1, maxInline, err)
	}
	if err := bigList.SetFlags(1, verbs.SendInline); err != nil {
		t.Errorf("SetFlags(SendInline) on a request of 8 bytes: %v", err)
	}
	if err := bigList.SetSGE(1, 0, e.mr.SGE(0, maxInline+1)); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("SetSGE of %d bytes on an inline request, inline size %d: %v, want EINVAL", maxInline+1, maxInline, err)
	}
	// A list holds the regions its entries name open, until the last
	// entry naming one moves to another region or the list is closed.
	newMR := func() *verbs.MR {
		mr, err := e.pd.RegMR(e.buf, 0, 0, verbs.AccessLocalWrite)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { mr.Close() })
		return mr
	}
	mr2, mr3 := newMR(), newMR()
	held, err := e.qp.NewSendList([]verbs.SendWR{{Opcode: verbs.WRSend, SGL: []verbs.SGE{mr2.SGE(0, 8)}}, {Opcode: verbs.WRSend, SGL: []verbs.SGE{mr2.SGE(8, 8)}}})
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := mr2.Close(); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("closing a region of a live send list: %v, want EBUSY", err)
	}
	if err := mr2.Rereg(verbs.AccessLocalWrite | verbs.AccessRemoteWrite); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("re-registering a region of a live send list (its entries carry the keys): %v, want EBUSY", err)
	}
	for i := range 2 {
		if err := held.SetSGE(i, 0, mr3.SGE(0, 8)); err != nil {
			t.Fatal(err)
		}
		if err := mr2.Close(); i == 0 && !errors.Is(err, syscall.EBUSY) {
			t.Errorf("closing a region one entry still names: %v, want EBUSY", err)
		} else if i == 1 && err != nil {
			t.Errorf("closing a region no entry names any more: %v", err)
		}
	}
	if err := mr3.Close(); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("closing the region the entries moved to: %v, want EBUSY", err)
	}
	if err := held.Close(); err != nil {
		t.Fatal(err)
	}
	if err := mr3.Close(); err != nil {
		t.Errorf("closing the region after its list: %v", err)
	}

	var nilList *verbs.SendList
	var nilQP *verbs.QP
	_, errNilQP := nilQP.NewSendList([]verbs.SendWR{send})
	for name, err := range map[string]error{
		"nil QP NewSendList":  errNilQP,
		"nil list Post":       nilList.Post(1),
		"nil list PostChains": nilList.PostChains(1, 1),
		"nil list PostAfter":  errPostAfter(nilList.PostAfter(context.Background(), e.cq, make([]verbs.WorkCompletion, 1), 1)),
		"nil list SetID":      nilList.SetID(0, 1),
		"nil list SetFlags":   nilList.SetFlags(0, 0),
		"nil list SetRemote":  nilList.SetRemote(0, 0, 0),
		"nil list SetImm":     nilList.SetImm(0, 0),
		"nil list SetSGE":     nilList.SetSGE(0, 0, verbs.SGE{}),
		"nil list Close":      nilList.Close(),
	} {
		if !errors.Is(err, verbs.ErrClosed) {
			t.Errorf("%s: %v, want ErrClosed", name, err)
		}
	}
	if nilList.Len() != 0 {
		t.Errorf("nil list Len %d", nilList.Len())
	}

	// A list holds its QP open.
	qp, err := e.pd.CreateQP(&verbs.QPInitAttr{Type: verbs.QPTypeRC, SendCQ: e.cq, RecvCQ: e.cq, Cap: verbs.QPCap{MaxSendWR: 1, MaxRecvWR: 1}})
	if err != nil {
		t.Fatal(err)
	}
	list, err := qp.NewSendList([]verbs.SendWR{send})
	if err != nil {
		t.Fatal(err)
	}
	if err := qp.Close(); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("closing the QP of a live send list: %v, want EBUSY", err)
	}
	if err := list.Close(); err != nil {
		t.Fatal(err)
	}
	if err := qp.Close(); err != nil {
		t.Fatalf("closing the QP after its list: %v", err)
	}
	if _, err := qp.NewSendList([]verbs.SendWR{send}); !errors.Is(err, verbs.ErrClosed) {
		t.Errorf("NewSendList on a closed QP: %v, want ErrClosed", err)
	}
	for i, err := range []error{list.Post(1), list.PostChains(1, 1), errPostAfter(list.PostAfter(context.Background(), e.cq, make([]verbs.WorkCompletion, 1), 1)), list.SetID(0, 1), list.SetFlags(0, 0), list.SetRemote(0, 0, 0), list.SetImm(0, 0),
		list.SetSGE(0, 0, verbs.SGE{}), list.Close()} {
		if !errors.Is(err, verbs.ErrClosed) {
			t.Errorf("call %d on a closed list: %v, want ErrClosed", i, err)
		}
	}
}

// SetImm changes the immediate data a list's send carries.
func TestSendListImm(t *testing.T) {
	ctx, a, b, recv, send := sendPair(t)
	send[0].Opcode, send[0].Imm = verbs.WRSendWithImm, 1
	list, err := a.qp.NewSendList(send)
	if err != nil {
		t.Fatal(err)
	}
	defer list.Close()
	if err := list.SetImm(0, 0x01020304); err != nil {
		t.Fatal(err)
	}
	if err := b.qp.PostRecv(recv); err != nil {
		t.Fatal(err)
	}
	postWithImm(t, ctx, "IBV_WR_SEND_WITH_IMM", func() error { return list.Post(1) })
	waitOne(t, a.cq)
	if wc := waitOne(t, b.cq); wc.Flags&verbs.WCWithImm == 0 || wc.Imm != 0x01020304 {
		t.Errorf("receive completion %+v, want immediate data 0x01020304", wc)
	}
}

// A UD list holds its AH open until the list is closed.
func TestSendListHoldsAH(t *testing.T) {
	a, b, ah := udPair(t)
	const msg = "a datagram from a list"
	copy(a.buf.Bytes()[1024:], msg)
	list, err := a.qp.NewSendList([]verbs.SendWR{{ID: 2, Opcode: verbs.WRSend, Flags: verbs.SendSignaled,
		SGL: []verbs.SGE{a.mr.SGE(1024, len(msg))}, AH: ah, RemoteQPN: b.qp.Num(), RemoteQKey: testQKey}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ah.Close(); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("closing the AH of a live list: %v, want EBUSY", err)
	}
	for i := range 2 {
		if err := b.qp.PostRecv([]verbs.RecvWR{{ID: 1, SGL: []verbs.SGE{b.mr.SGE(0, verbs.GRHSize+256)}}}); err != nil {
			t.Fatal(err)
		}
		if err := list.Post(1); err != nil {
			t.Fatal(err)
		}
		waitOne(t, a.cq)
		if wc := waitOne(t, b.cq); wc.SrcQP != a.qp.Num() || string(b.buf.Bytes()[verbs.GRHSize:verbs.GRHSize+len(msg)]) != msg {
			t.Errorf("post %d: receive completion %+v", i, wc)
		}
	}
	if err := list.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ah.Close(); err != nil {
		t.Errorf("closing the AH after its list: %v", err)
	}
}

// errPostAfter is PostAfter's error, which must come with no completions.
func errPostAfter(n int, err error) error {
	if n != 0 {
		return fmt.Errorf("%d completions with %w", n, err)
	}
	return err
}
