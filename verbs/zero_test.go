package verbs_test

import (
	"errors"
	"testing"

	"github.com/go-rdma/rdma/internal/zerocall"
	"github.com/go-rdma/rdma/verbs"
)

// TestZeroValues calls every method of nil and zero-value objects (which
// have no C object behind them) with zero arguments: none may panic or
// reach C, and each that returns an error returns one matching ErrClosed.
// It needs no device.
func TestZeroValues(t *testing.T) {
	for _, v := range []any{
		(*verbs.Context)(nil), new(verbs.Context),
		(*verbs.PD)(nil), new(verbs.PD),
		(*verbs.Buffer)(nil), new(verbs.Buffer),
		(*verbs.MR)(nil), new(verbs.MR),
		(*verbs.MW)(nil), new(verbs.MW),
		(*verbs.CQ)(nil), new(verbs.CQ),
		(*verbs.QP)(nil), new(verbs.QP),
		(*verbs.SRQ)(nil), new(verbs.SRQ),
		(*verbs.AH)(nil), new(verbs.AH),
		(*verbs.SendList)(nil), new(verbs.SendList),
		(*verbs.RecvList)(nil), new(verbs.RecvList),
	} {
		for _, r := range zerocall.Methods(v) {
			t.Logf("%T %s", v, r)
			if r.Panic != nil || r.HasErr && !errors.Is(r.Err, verbs.ErrClosed) {
				t.Errorf("%T.%s: want an error matching ErrClosed, got %s", v, r.Method, r)
			}
		}
	}
}
