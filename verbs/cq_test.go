package verbs_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/go-rdma/rdma/internal/testbed"
	"github.com/go-rdma/rdma/verbs"
)

// Running a device out of queues gives ENOMEM (siw runs out of room to map
// queues after about 144 pages per open device, and libsiw then fails
// without errno), and closing one makes room again; nothing is left
// behind, so the device closes. The test first leaves EINVAL in its
// thread's errno, which a failure without errno must not report.
func TestCQExhaustion(t *testing.T) {
	ctx, err := verbs.Open(testbed.Device(t))
	if err != nil {
		t.Fatal(err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if _, err := ctx.CreateCQ(1<<30, nil); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("CreateCQ(1<<30) = %v, want EINVAL", err)
	}
	const most = 300
	var cqs []*verbs.CQ
	defer func() {
		for _, cq := range cqs {
			cq.Close()
		}
	}()
	var failed error
	for len(cqs) < most {
		cq, err := ctx.CreateCQ(2, nil)
		if err != nil {
			failed = err
			break
		}
		cqs = append(cqs, cq)
	}
	if failed == nil {
		t.Logf("%s made %d CQs without running out", ctx.Name(), most)
	} else {
		t.Logf("%s ran out after %d CQs: %v", ctx.Name(), len(cqs), failed)
		if !errors.Is(failed, syscall.ENOMEM) {
			t.Fatalf("CreateCQ on an exhausted device = %v, want ENOMEM", failed)
		}
		if len(cqs) == 0 {
			t.Fatal("no CQ could be made at all")
		}
		if err := cqs[len(cqs)-1].Close(); err != nil {
			t.Fatal(err)
		}
		cq, err := ctx.CreateCQ(2, nil)
		if err != nil {
			t.Fatalf("CreateCQ after closing one: %v", err)
		}
		cqs[len(cqs)-1] = cq
	}
	for _, cq := range cqs {
		if err := cq.Close(); err != nil {
			t.Fatal(err)
		}
	}
	cqs = nil
	if err := ctx.Close(); err != nil {
		t.Fatalf("Close after the CQs: %v", err)
	}
}

// openFDs counts the process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// The CQs of a context share one completion channel: making CQs opens no
// descriptor, concurrent waiters on different CQs each get their own CQ's
// event, and a Wait on a CQ closed under it returns ErrClosed.
func TestCQWaitSharedChannel(t *testing.T) {
	ctx, a, b, recv, send := sendPair(t)
	before := openFDs(t)
	var extra []*verbs.CQ
	for range 32 {
		cq, err := ctx.CreateCQ(4, nil)
		if err != nil {
			t.Fatal(err)
		}
		extra = append(extra, cq)
	}
	if after := openFDs(t); after != before {
		t.Errorf("32 CQs opened %d descriptors, want 0", after-before)
	}

	bg, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type result struct {
		n   int
		err error
		wc  verbs.WorkCompletion
	}
	waitOn := func(cq *verbs.CQ) <-chan result {
		out := make(chan result, 1)
		go func() {
			wcs := make([]verbs.WorkCompletion, 1)
			n, err := cq.PollWait(bg, wcs)
			out <- result{n, err, wcs[0]}
		}()
		return out
	}
	for round := range 3 {
		sent, received := waitOn(a.cq), waitOn(b.cq)
		time.Sleep(20 * time.Millisecond) // both armed and waiting
		if err := b.qp.PostRecv(recv); err != nil {
			t.Fatal(err)
		}
		if err := a.qp.PostSend(send); err != nil {
			t.Fatal(err)
		}
		for _, w := range []struct {
			name string
			ch   <-chan result
			id   uint64
		}{{"sender", sent, send[0].ID}, {"receiver", received, recv[0].ID}} {
			r := <-w.ch
			if r.err != nil || r.n != 1 || r.wc.WRID != w.id || r.wc.Err() != nil {
				t.Fatalf("round %d: %s's PollWait = %d, %v, %+v; want its own completion (request %d)", round, w.name, r.n, r.err, r.wc, w.id)
			}
		}
	}
	// Waiting registered the channel with the netpoller: one descriptor
	// for the context, whatever the number of CQs.
	if got := openFDs(t) - before; got > 1 {
		t.Errorf("waiting opened %d descriptors, want at most 1", got)
	}

	spare := extra[0]
	if err := spare.Arm(false); err != nil {
		t.Fatal(err)
	}
	closeUnder(t, "Wait", func() error { return spare.Wait(bg) }, func() error {
		for _, cq := range extra {
			if err := cq.Close(); err != nil {
				return err
			}
		}
		return nil
	})
}

// Yield lets another goroutine run on the caller's processor: with one
// processor, a goroutine just started runs at the first Yield or so (not at
// the runtime's preemption, 10 ms later).
func TestYield(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var ran atomic.Bool
	go ran.Store(true)
	for range 3 {
		if ran.Load() {
			return
		}
		verbs.Yield()
	}
	if !ran.Load() {
		t.Fatal("the other goroutine did not run within 3 yields")
	}
}

// More completion events than the reader takes in per call, all pending
// before its first read: every CQ's Wait still returns, so the reader reads
// on after a full batch until the channel is empty.
func TestCQWaitManyPendingEvents(t *testing.T) {
	ctx := openTestDevice(t)
	const pairs = 10 // 20 CQs, each with one event
	var cqs []*verbs.CQ
	for range pairs {
		a, b := newEnd(t, ctx, 4096), newEnd(t, ctx, 4096)
		connect(t, ctx, a, b)
		for _, e := range []*end{a, b} {
			if err := e.cq.Arm(false); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.qp.PostRecv([]verbs.RecvWR{{ID: 1, SGL: []verbs.SGE{b.mr.SGE(0, 64)}}}); err != nil {
			t.Fatal(err)
		}
		if err := a.qp.PostSend([]verbs.SendWR{{ID: 2, Opcode: verbs.WRSend, Flags: verbs.SendSignaled,
			SGL: []verbs.SGE{a.mr.SGE(0, 64)}}}); err != nil {
			t.Fatal(err)
		}
		cqs = append(cqs, a.cq, b.cq)
	}
	// Each completion, once polled, has landed on its armed CQ: its event
	// is queued on the channel, which nothing reads before the first Wait.
	bg, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wcs := make([]verbs.WorkCompletion, 1)
	for i, cq := range cqs {
		if _, err := cq.BusyPoll(bg, wcs); err != nil || wcs[0].Err() != nil {
			t.Fatalf("CQ %d: %v, %v", i, err, wcs[0].Err())
		}
	}
	errs := make(chan error, len(cqs))
	for _, cq := range cqs {
		go func() { errs <- cq.Wait(bg) }()
	}
	for i := range cqs {
		if err := <-errs; err != nil {
			t.Fatalf("Wait %d of %d: %v, want its CQ's event", i+1, len(cqs), err)
		}
	}
}

// Goroutines polling one CQ at once each get completions of their own: every
// RDMA write's completion comes out exactly once, with its own ID and
// status. Each round lets a burst of completions gather in the CQ, then
// starts the pollers together on it.
func TestCQConcurrentPoll(t *testing.T) {
	ctx := openTestDevice(t)
	a, b := newEnd(t, ctx, 4096), newEnd(t, ctx, 4096)
	connect(t, ctx, a, b)
	const rounds, burst, pollers = 60, 48, 4
	seen := make([]atomic.Int32, rounds*burst)
	wrs := make([]verbs.SendWR, burst)
	deadline := time.Now().Add(30 * time.Second)
	for r := range rounds {
		for i := range wrs {
			wrs[i] = verbs.SendWR{ID: uint64(r*burst + i), Opcode: verbs.WRRDMAWrite, Flags: verbs.SendSignaled,
				SGL: []verbs.SGE{a.mr.SGE(0, 8)}, RemoteAddr: b.mr.Addr(), RKey: b.mr.RKey()}
		}
		if err := a.qp.PostSend(wrs); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
		var got atomic.Int64
		start := make(chan struct{})
		errs := make(chan error, pollers)
		for range pollers {
			go func() {
				<-start
				wcs := make([]verbs.WorkCompletion, 4)
				for got.Load() < burst && time.Now().Before(deadline) {
					n, err := a.cq.Poll(wcs)
					if err != nil {
						errs <- err
						return
					}
					for _, wc := range wcs[:n] {
						if err := wc.Err(); err != nil || wc.Opcode != verbs.WCRDMAWrite || wc.WRID >= uint64(len(seen)) {
							errs <- fmt.Errorf("completion %+v: %v", wc, err)
							return
						}
						seen[wc.WRID].Add(1)
					}
					got.Add(int64(n))
				}
				errs <- nil
			}()
		}
		close(start)
		for range pollers {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: %v", r, err)
			}
		}
		if n := got.Load(); n != burst {
			t.Fatalf("round %d: %d completions, want %d", r, n, burst)
		}
	}
	for i := range seen {
		if n := seen[i].Load(); n != 1 {
			t.Errorf("write %d: %d completions, want 1", i, n)
		}
	}
}

// TestCQResize: a CQ grown by Resize holds more completions than it was
// made for, keeps those it holds across a resize, polls them in a batch of
// its new size, and refuses to shrink below what it holds.
func TestCQResize(t *testing.T) {
	ctx := openTestDevice(t)
	pd, err := ctx.AllocPD()
	if err != nil {
		t.Fatal(err)
	}
	defer pd.Close()
	cq, err := ctx.CreateCQ(8, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cq.Close()
	made := cq.Size()
	if err := cq.Resize(64); errors.Is(err, syscall.EOPNOTSUPP) {
		testbed.Limitation(t, "%s: ibv_resize_cq: %v", ctx.Name(), err)
	} else if err != nil {
		t.Fatal(err)
	}
	t.Logf("CreateCQ(8): size %d; Resize(64): size %d", made, cq.Size())
	if made < 8 || made >= 40 || cq.Size() < 64 {
		t.Fatalf("sizes %d and %d after CreateCQ(8) and Resize(64)", made, cq.Size())
	}
	qp, err := pd.CreateQP(&verbs.QPInitAttr{Type: verbs.QPTypeRC, SendCQ: cq, RecvCQ: cq,
		Cap: verbs.QPCap{MaxSendWR: 1, MaxRecvWR: 64, MaxSendSGE: 1, MaxRecvSGE: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer qp.Close()
	if err := qp.Modify(&verbs.QPAttr{State: int(verbs.QPStateInit), PortNum: 1},
		verbs.QPAttrState|verbs.QPAttrPKeyIndex|verbs.QPAttrPort|verbs.QPAttrAccessFlags); err != nil {
		t.Fatal(err)
	}
	// 40 receives, flushed into the CQ by the error state: more than the
	// CQ was made for.
	const n = 40
	recvs := make([]verbs.RecvWR, n)
	for i := range recvs {
		recvs[i].ID = uint64(i)
	}
	if err := qp.PostRecv(recvs); err != nil {
		t.Fatal(err)
	}
	if err := qp.Modify(&verbs.QPAttr{State: int(verbs.QPStateErr)}, verbs.QPAttrState); err != nil {
		t.Fatal(err)
	}
	wcs := make([]verbs.WorkCompletion, 64)
	bg, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Resize below what the CQ holds fails (EINVAL) once all n are there:
	// wait for that. Nothing is consumed meanwhile, Resize must keep them.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if err := cq.Resize(n - 1); errors.Is(err, syscall.EINVAL) || time.Now().After(deadline) {
			t.Logf("Resize(%d) with %d completions held: %v", n-1, n, err)
			if !errors.Is(err, syscall.EINVAL) {
				t.Fatalf("Resize below what the CQ holds: %v, want EINVAL", err)
			}
			break
		}
	}
	if err := cq.Resize(128); err != nil {
		t.Fatal(err)
	}
	got, err := cq.PollWait(bg, wcs)
	if err != nil {
		t.Fatal(err)
	}
	if got != n {
		t.Fatalf("one poll after Resize(128) returned %d completions, want all %d", got, n)
	}
	for i, wc := range wcs[:n] {
		if wc.WRID != uint64(i) || wc.Status != verbs.WCWRFlushErr {
			t.Errorf("completion %d: %+v, want receive %d flushed", i, wc, i)
		}
	}
}

// TestCompVectors: the device has at least one completion vector, a CQ is
// made on each, and the vector past the last is refused by the kernel
// (EINVAL).
func TestCompVectors(t *testing.T) {
	ctx := openTestDevice(t)
	n, err := ctx.NumCompVectors()
	if err != nil || n < 1 {
		t.Fatalf("NumCompVectors = %d, %v", n, err)
	}
	t.Logf("%s: %d completion vectors", ctx.Name(), n)
	for v := range n {
		cq, err := ctx.CreateCQ(4, &verbs.CQOptions{Vector: v})
		if err != nil {
			t.Fatalf("CreateCQ on vector %d of %d: %v", v, n, err)
		}
		if err := cq.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if cq, err := ctx.CreateCQ(4, &verbs.CQOptions{Vector: n}); !errors.Is(err, syscall.EINVAL) {
		if err == nil {
			cq.Close()
		}
		t.Errorf("CreateCQ on vector %d of %d: %v, want EINVAL", n, n, err)
	}
}

// resizeEnv, set to a device's name in the environment of this test
// binary, makes it the process of TestResizeLosesQueue (TestMain).
const resizeEnv = "VERBS_TEST_RESIZE_LOSES_QUEUE_ON"

// TestResizeLosesQueue: a resize that fails once the kernel has resized
// the CQ (on rxe, when mapping the new queue fails, its old queue already
// unmapped) leaves a CQ whose polls and resizes fail with EIO, and which
// closes, where the next poll used to crash the process. The resize runs
// in another process (this test binary, run again with resizeEnv), under
// an address space limit that leaves no room for the new queue.
func TestResizeLosesQueue(t *testing.T) {
	ctx := openTestDevice(t)
	cq, err := ctx.CreateCQ(1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cq.Close()
	if err := cq.Resize(2); errors.Is(err, syscall.EOPNOTSUPP) {
		testbed.Limitation(t, "%s: ibv_resize_cq: %v", ctx.Name(), err)
	} else if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), resizeEnv+"="+ctx.Name())
	out, err := cmd.CombinedOutput()
	t.Logf("the resizing process:\n%s", out)
	if err != nil {
		t.Fatalf("the resizing process: %v", err)
	}
}

// resizeLosesQueue is TestResizeLosesQueue's other process: it resizes a
// CQ on device to the device's largest size with RLIMIT_AS a MiB above the
// process's size, and checks what the CQ does after.
func resizeLosesQueue(device string) error {
	ctx, err := verbs.Open(device)
	if err != nil {
		return err
	}
	defer ctx.Close()
	attr, err := ctx.QueryDevice()
	if err != nil {
		return err
	}
	cq, err := ctx.CreateCQ(1, nil)
	if err != nil {
		return err
	}
	size, err := vmSize()
	if err != nil {
		return err
	}
	var was unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_AS, &was); err != nil {
		return err
	}
	tight := unix.Rlimit{Cur: size + 1<<20, Max: was.Max}
	if err := unix.Setrlimit(unix.RLIMIT_AS, &tight); err != nil {
		return err
	}
	resized := cq.Resize(attr.MaxCQE)
	if err := unix.Setrlimit(unix.RLIMIT_AS, &was); err != nil {
		return err
	}
	fmt.Printf("Resize(%d) with RLIMIT_AS %d bytes: %v\n", attr.MaxCQE, tight.Cur, resized)
	if resized == nil {
		return errors.New("the resize had room")
	}
	wcs := make([]verbs.WorkCompletion, 4)
	_, polled := cq.Poll(wcs)
	fmt.Printf("Poll: %v\n", polled)
	if !errors.Is(polled, syscall.EIO) {
		return fmt.Errorf("Poll after the failed resize: %v, want EIO", polled)
	}
	if err := cq.Resize(8); !errors.Is(err, syscall.EIO) {
		return fmt.Errorf("Resize after the failed resize: %v, want EIO", err)
	}
	return cq.Close()
}

// vmSize is the process's virtual memory size in bytes (VmSize).
func vmSize() (uint64, error) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmSize:"); ok {
			var kb uint64
			if _, err := fmt.Sscanf(v, "%d kB", &kb); err != nil {
				return 0, fmt.Errorf("VmSize %q: %w", v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmSize in /proc/self/status")
}
