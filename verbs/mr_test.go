package verbs_test

import (
	"errors"
	"testing"

	"github.com/go-rdma/rdma/verbs"
)

// Rereg grants remote write to a region registered for local access only;
// a peer then writes to it with the new rkey.
func TestMRRereg(t *testing.T) {
	ctx := openTestDevice(t)
	a, b := newEnd(t, ctx, 4096), newEnd(t, ctx, 4096)
	buf, err := verbs.NewBuffer(4096, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer buf.Close()
	mr, err := b.pd.RegMR(buf, 0, 0, verbs.AccessLocalWrite)
	if err != nil {
		t.Fatal(err)
	}
	defer mr.Close()
	if err := mr.Rereg(verbs.AccessLocalWrite | verbs.AccessRemoteWrite); err != nil {
		t.Fatal(err)
	}
	connect(t, ctx, a, b)
	copy(a.buf.Bytes(), "after rereg")
	if err := a.qp.PostSend([]verbs.SendWR{{ID: 1, Opcode: verbs.WRRDMAWrite, Flags: verbs.SendSignaled,
		SGL: []verbs.SGE{a.mr.SGE(0, 11)}, RemoteAddr: mr.Addr() + 8, RKey: mr.RKey()}}); err != nil {
		t.Fatal(err)
	}
	waitOne(t, a.cq)
	if got := string(buf.Bytes()[8:19]); got != "after rereg" {
		t.Errorf("write to the re-registered region left %q", got)
	}
	if err := mr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := mr.Rereg(verbs.AccessLocalWrite); !errors.Is(err, verbs.ErrClosed) {
		t.Errorf("Rereg after Close: %v, want ErrClosed", err)
	}
}
