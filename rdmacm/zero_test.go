package rdmacm_test

import (
	"errors"
	"testing"

	"github.com/go-rdma/rdma/cgo"
	"github.com/go-rdma/rdma/internal/zerocall"
	"github.com/go-rdma/rdma/rdmacm"
)

// TestZeroValues calls every method of nil and zero-value connectors,
// listeners and endpoints (which have no identifier behind them) with zero
// arguments: none may panic or reach C, and each that returns an error
// returns one matching ErrClosed. A nil *Endpoint has only Close: the
// methods of its embedded Connector need the Endpoint. It needs no device.
func TestZeroValues(t *testing.T) {
	if err := (*rdmacm.Endpoint)(nil).Close(); !errors.Is(err, rdmacm.ErrClosed) {
		t.Errorf("nil Endpoint's Close: %v, want ErrClosed", err)
	}
	for _, v := range []any{
		(*rdmacm.Connector)(nil), new(rdmacm.Connector),
		(*rdmacm.Listener)(nil), new(rdmacm.Listener),
		new(rdmacm.Endpoint),
	} {
		for _, r := range zerocall.Methods(v) {
			t.Logf("%T %s", v, r)
			if r.Panic != nil || r.HasErr && !errors.Is(r.Err, rdmacm.ErrClosed) {
				t.Errorf("%T.%s: want an error matching ErrClosed, got %s", v, r.Method, r)
			}
		}
	}
}

// TestMessageOutOfRange: a Message that names no message has no room for
// private data and a name, and panics nowhere.
func TestMessageOutOfRange(t *testing.T) {
	for _, m := range []rdmacm.Message{-1, 3, 1 << 20} {
		for _, tr := range []cgo.Transport{cgo.TransportIB, cgo.TransportIWARP} {
			if n := rdmacm.MaxPrivateData(tr, m, false); n != 0 {
				t.Errorf("MaxPrivateData(%v, %d, false) = %d, want 0", tr, int(m), n)
			}
			if n := rdmacm.MaxPrivateData(tr, m, true); n != 0 {
				t.Errorf("MaxPrivateData(%v, %d, true) = %d, want 0", tr, int(m), n)
			}
		}
		if s := m.String(); s == "" {
			t.Errorf("Message(%d).String() is empty", int(m))
		}
	}
}
