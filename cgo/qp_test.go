package cgo

import (
	"errors"
	"syscall"
	"testing"

	"github.com/go-rdma/rdma/internal/testbed"
)

// TestPostCounts checks that the post shims refuse counts outside what their
// scratch holds before any call into C, where they would post stale requests
// again (0) or write past the scratch (more than the batch), and that
// queues and send and receive lists refuse sizes their scratch cannot hold.
func TestPostCounts(t *testing.T) {
	c, err := OpenDevice(testbed.Device(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	pd, err := c.AllocPD()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pd.Dealloc() })
	cq, err := c.CreateCQ(16, CompChannel{}, 0, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cq.Destroy() })
	init := QPInit{Type: 2, SendCQ: cq, RecvCQ: cq, Cap: QPCap{MaxSendWR: 8, MaxRecvWR: 8, MaxSendSGE: 1, MaxRecvSGE: 1}}
	for _, batch := range []int{-1, 0, MaxBatch + 1} {
		if _, _, err := pd.CreateQP(init, batch); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("CreateQP with batch %d: %v, want EINVAL", batch, err)
		}
		if _, _, err := pd.CreateSRQ(SRQAttr{MaxWR: 8, MaxSGE: 1}, batch); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("CreateSRQ with batch %d: %v, want EINVAL", batch, err)
		}
	}
	qp, _, err := pd.CreateQP(init, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { qp.Destroy() })
	for _, n := range []int{-1, 0, 5} {
		if _, err := qp.PostSend(n); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("PostSend(%d) with a batch of 4: %v, want EINVAL", n, err)
		}
		if _, err := qp.PostRecv(n); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("PostRecv(%d) with a batch of 4: %v, want EINVAL", n, err)
		}
	}
	for _, size := range [][2]int{{0, 1}, {-1, 1}, {2, -1}, {1 << 30, 4}} {
		if l, err := NewSendList(size[0], size[1]); !errors.Is(err, syscall.EINVAL) {
			if err == nil {
				l.Free()
			}
			t.Errorf("NewSendList(%d, %d): %v, want EINVAL", size[0], size[1], err)
		}
	}
	_, maxSGE, _ := qp.Batch()
	l, err := NewSendList(2, maxSGE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Free)
	if err := l.Fill(qp, 0, 2); err != nil {
		t.Errorf("Fill(0, 2) of a list of 2: %v", err)
	}
	for _, f := range [][2]int{{-1, 1}, {0, 0}, {0, 3}, {1, 2}, {0, 5}} {
		if err := l.Fill(qp, f[0], f[1]); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("Fill(%d, %d) of a list of 2: %v, want EINVAL", f[0], f[1], err)
		}
	}
	for _, p := range [][2]int{{0, 1}, {3, 1}, {2, 0}, {2, -1}} {
		if _, err := l.Post(qp, p[0], p[1]); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("Post(%d, %d) of a list of 2: %v, want EINVAL", p[0], p[1], err)
		}
	}
	for _, n := range []int{-1, 0, 1 << 31} {
		if r, err := qp.NewRecvList(n); !errors.Is(err, syscall.EINVAL) {
			if err == nil {
				r.Free()
			}
			t.Errorf("NewRecvList(%d): %v, want EINVAL", n, err)
		}
	}
	recv, err := qp.NewRecvList(2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(recv.Free)
	for _, n := range []int{-1, 0, 3} {
		if _, err := recv.Post(n); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("receive list Post(%d) of a list of 2: %v, want EINVAL", n, err)
		}
	}
	wcs := make([]WC, 1)
	for _, n := range [][2]int{{0, 0}, {3, 0}, {1, -1}, {1, 3}} {
		if _, _, _, err := l.PostAfterPoll(qp, cq, wcs, 1, n[0], recv, n[1]); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("PostAfterPoll(%d sends, %d receives) of lists of 2: %v, want EINVAL", n[0], n[1], err)
		}
	}
	srq, _, err := pd.CreateSRQ(SRQAttr{MaxWR: 8, MaxSGE: 1}, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srq.Destroy() })
	for _, n := range []int{0, 5} {
		if _, err := srq.PostRecv(n); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("SRQ PostRecv(%d) with a batch of 4: %v, want EINVAL", n, err)
		}
	}
}
