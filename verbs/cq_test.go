package verbs_test

import (
	"errors"
	"syscall"
	"testing"

	"github.com/go-rdma/rdma/internal/testbed"
	"github.com/go-rdma/rdma/verbs"
)

// Running a device out of queues gives ENOMEM (siw runs out of room to map
// queues after about 144 pages per open device, and libsiw then fails
// without errno), and closing one makes room again; nothing is left
// behind, so the device closes.
func TestCQExhaustion(t *testing.T) {
	ctx, err := verbs.Open(testbed.Device(t))
	if err != nil {
		t.Fatal(err)
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
