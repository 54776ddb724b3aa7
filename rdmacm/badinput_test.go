package rdmacm_test

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/go-rdma/rdma/internal/testbed"
	"github.com/go-rdma/rdma/rdmacm"
	"github.com/go-rdma/rdma/verbs"
)

// TestBadInputTable extends TestBadInput: nil, closed and wrong-state
// objects, bad QPs, private data over the limit, and bad addresses, each
// with the error it must give (never a panic). It logs the table.
func TestBadInputTable(t *testing.T) {
	// One context for the whole table, which makes many connectors.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	l := listen(t, 4)
	var nilC *rdmacm.Connector
	var nilL *rdmacm.Listener
	var nilE *rdmacm.Endpoint
	closedL, err := rdmacm.Listen(l0(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	closedL.Close()
	closedC, err := rdmacm.NewConnector()
	if err != nil {
		t.Fatal(err)
	}
	closedC.Close()

	e := newEndpoint(t, testbed.Device(t))
	// iWARP has no UD QPs (EOPNOTSUPP): then that row is left out.
	ud, err := e.pd.CreateQP(&verbs.QPInitAttr{Type: verbs.QPTypeUD, SendCQ: e.cq, RecvCQ: e.cq,
		Cap: verbs.QPCap{MaxSendWR: 1, MaxRecvWR: 1, MaxSendSGE: 1, MaxRecvSGE: 1}})
	if err != nil && !errors.Is(err, syscall.EOPNOTSUPP) {
		t.Fatal(err)
	}
	if ud != nil {
		defer ud.Close()
	}
	closedQP, err := e.pd.CreateQP(&verbs.QPInitAttr{Type: verbs.QPTypeRC, SendCQ: e.cq, RecvCQ: e.cq,
		Cap: verbs.QPCap{MaxSendWR: 1, MaxRecvWR: 1, MaxSendSGE: 1, MaxRecvSGE: 1}})
	if err != nil {
		t.Fatal(err)
	}
	closedQP.Close()
	// A QP on the other software device of the test bed, when there is one.
	other := map[string]string{os.Getenv("RDMA_RXE_DEV"): os.Getenv("RDMA_SIW_DEV"), os.Getenv("RDMA_SIW_DEV"): os.Getenv("RDMA_RXE_DEV")}[testbed.Device(t)]

	// resolved returns an active connector resolved to l.
	resolved := func() *rdmacm.Connector {
		c := newConnector(t)
		if err := c.Resolve(ctx, l.Addr().String()); err != nil {
			t.Fatal(err)
		}
		return c
	}
	// newUD returns a UD connector, bound to the device's address if bound.
	newUD := func(bound bool) *rdmacm.Connector {
		c := newUDConnector(t)
		if bound {
			if err := c.Bind(l0(t)); err != nil {
				t.Fatal(err)
			}
		}
		return c
	}
	limit := resolved().MaxPrivateData(rdmacm.MsgConnect, false)
	over := &rdmacm.ConnParams{PrivateData: make([]byte, limit+1)}

	var nilCtx context.Context
	tests := []badCase{
		{"Connector.Resolve", "nil context", func() error { return newConnector(t).Resolve(nilCtx, l.Addr().String()) }, syscall.EINVAL},
		{"Connector.Connect", "nil context", func() error { return resolved().Connect(nilCtx, "", e.qp, nil) }, syscall.EINVAL},
		{"Connector.CompleteConnect", "nil context", func() error { return resolved().CompleteConnect(nilCtx) }, syscall.EINVAL},
		{"Connector.Accept", "nil context", func() error { return resolved().Accept(nilCtx, e.qp, nil) }, syscall.EINVAL},
		{"Connector.Disconnect", "UD connector", func() error { return newUD(false).Disconnect(ctx) }, rdmacm.ErrUnsupported},
		{"Connector.Disconnect", "nil context", func() error { return resolved().Disconnect(nilCtx) }, syscall.EINVAL},
		{"Connector.JoinMulticast", "nil context", func() error { _, err := newUD(true).JoinMulticast(nilCtx, "239.1.2.5", e.qp); return err }, syscall.EINVAL},
		{"Listener.GetConnectionRequest", "nil context", func() error { _, err := l.GetConnectionRequest(nilCtx); return err }, syscall.EINVAL},
		{"Listener.Accept", "nil context", func() error { _, err := l.Accept(nilCtx, nil); return err }, syscall.EINVAL},
		{"Dial", "nil context", func() error { _, err := rdmacm.Dial(nilCtx, l.Addr().String(), nil); return err }, syscall.EINVAL},
		{"Connector.Bind", "nil connector", func() error { return nilC.Bind(l0(t)) }, rdmacm.ErrClosed},
		{"Connector.Resolve", "nil connector", func() error { return nilC.Resolve(ctx, l.Addr().String()) }, rdmacm.ErrClosed},
		{"Connector.InitQP", "nil connector", func() error { return nilC.InitQP(e.qp) }, rdmacm.ErrClosed},
		{"Connector.RejectRaw", "nil connector", func() error { return nilC.RejectRaw(nil) }, rdmacm.ErrClosed},
		{"Connector.Resolve", "closed connector", func() error { return closedC.Resolve(ctx, l.Addr().String()) }, rdmacm.ErrClosed},
		{"Connector.InitQP", "closed connector", func() error { return closedC.InitQP(e.qp) }, rdmacm.ErrClosed},
		{"Connector.Accept", "closed connector", func() error { return closedC.Accept(ctx, e.qp, nil) }, rdmacm.ErrClosed},
		{"Connector.ConnectionData", "closed connector", func() error { _, err := closedC.ConnectionData(); return err }, rdmacm.ErrClosed},
		{"Connector.Bind", "port 99999", func() error { return newConnector(t).Bind("192.0.2.1:99999") }, nil},
		{"Connector.Bind", "address of no device", func() error { return newConnector(t).Bind("198.51.100.7:0") }, syscall.EADDRNOTAVAIL},
		{"Connector.Bind", "after Resolve", func() error { return resolved().Bind(l0(t)) }, rdmacm.ErrInvalidState},
		{"Connector.Resolve", "twice", func() error { return resolved().Resolve(ctx, l.Addr().String()) }, rdmacm.ErrInvalidState},
		{"Connector.Resolve", "negative port", func() error { return newConnector(t).Resolve(ctx, "192.0.2.1:-1") }, nil},
		{"Connector.Resolve", "IPv6 loopback (no RDMA device)", func() error { return newConnector(t).Resolve(ctx, "[::1]:7471") }, nil},
		{"Connector.InitQP", "before Resolve", func() error { return newConnector(t).InitQP(e.qp) }, rdmacm.ErrInvalidState},
		{"Connector.InitQP", "nil QP", func() error { return resolved().InitQP(nil) }, syscall.EINVAL},
		{"Connector.InitQP", "closed QP", func() error { return resolved().InitQP(closedQP) }, verbs.ErrClosed},
		{"Connector.Connect", "closed QP", func() error { return resolved().Connect(ctx, "", closedQP, nil) }, verbs.ErrClosed},
		{"Connector.Connect", "negative read limit", func() error {
			return resolved().Connect(ctx, "", e.qp, &rdmacm.ConnParams{InboundReadLimit: -1})
		}, syscall.EINVAL},
		{"Connector.Connect", "retry count 8", func() error {
			return resolved().Connect(ctx, "", e.qp, &rdmacm.ConnParams{Retry: &rdmacm.Retry{Count: 8}})
		}, syscall.EINVAL},
		{"Connector.Connect", "RNR retry count -1", func() error {
			return resolved().Connect(ctx, "", e.qp, &rdmacm.ConnParams{Retry: &rdmacm.Retry{RNR: -1}})
		}, syscall.EINVAL},
		{"Connector.Connect", "private data limit+1", func() error { return resolved().Connect(ctx, "", e.qp, over) }, rdmacm.ErrPrivateDataTooLong},
		{"Connector.Connect", "raw private data limit+1", func() error {
			return resolved().Connect(ctx, "", e.qp, &rdmacm.ConnParams{PrivateData: make([]byte, limit+4), RawPrivateData: true})
		}, rdmacm.ErrPrivateDataTooLong},
		{"Connector.Reject", "active, before Connect", func() error { return resolved().Reject(nil) }, rdmacm.ErrInvalidState},
		{"Connector.Disconnect", "not connected", func() error { return resolved().Disconnect(ctx) }, rdmacm.ErrInvalidState},
		{"Connector.SetTOS", "closed connector", func() error { return closedC.SetTOS(0x68) }, rdmacm.ErrClosed},
		{"Connector.SetTOS", "256", func() error { return newConnector(t).SetTOS(256) }, syscall.EINVAL},
		{"Connector.SetTOS", "after Resolve", func() error { return resolved().SetTOS(0x68) }, rdmacm.ErrInvalidState},
		{"Connector.SetAckTimeout", "nil connector", func() error { return nilC.SetAckTimeout(14) }, rdmacm.ErrClosed},
		{"Connector.SetAckTimeout", "MaxAckTimeout+1", func() error { return resolved().SetAckTimeout(rdmacm.MaxAckTimeout + 1) }, syscall.EINVAL},
		{"Connector.SetAckTimeout", "-1", func() error { return newConnector(t).SetAckTimeout(-1) }, syscall.EINVAL},
		{"Connector.SetReuseAddr", "closed connector", func() error { return closedC.SetReuseAddr(true) }, rdmacm.ErrClosed},
		{"Connector.SetReuseAddr", "after Bind", func() error {
			c := newConnector(t)
			if err := c.Bind(l0(t)); err != nil {
				return err
			}
			return c.SetReuseAddr(true)
		}, rdmacm.ErrInvalidState},
		{"Connector.JoinMulticast", "RC connector", func() error { _, err := newConnector(t).JoinMulticast(ctx, "239.1.2.5", e.qp); return err }, rdmacm.ErrInvalidState},
		{"Connector.JoinMulticast", "unicast address", func() error { _, err := newUD(true).JoinMulticast(ctx, testbed.Addr(t), e.qp); return err }, nil},
		{"Connector.JoinMulticast", "nil QP", func() error { _, err := newUD(true).JoinMulticast(ctx, "239.1.2.5", nil); return err }, syscall.EINVAL},
		{"Connector.JoinMulticast", "RC QP", func() error { _, err := newUD(true).JoinMulticast(ctx, "239.1.2.5", e.qp); return err }, syscall.EINVAL},
		{"Connector.LeaveMulticast", "group not joined", func() error { return newUD(true).LeaveMulticast("239.1.2.5") }, syscall.EADDRNOTAVAIL},
		{"Connector.UDPeer", "before Connect", func() error { _, err := newUD(false).UDPeer(); return err }, rdmacm.ErrInvalidState},
		{"Connector.Connect", "RC QP on a UD connector", func() error { return newUD(false).Connect(ctx, l.Addr().String(), e.qp, nil) }, syscall.EINVAL},
		{"Connector.JoinMulticast", "after Resolve", func() error {
			c := newUD(false)
			if err := c.Resolve(ctx, l.Addr().String()); err != nil {
				return err
			}
			_, err := c.JoinMulticast(ctx, "239.1.2.5", e.qp)
			return err
		}, rdmacm.ErrInvalidState},
		{"Connector.SetAckTimeout", "UD connector", func() error { return newUD(false).SetAckTimeout(14) }, syscall.EINVAL},
		{"Listener.Accept", "UD listener", func() error {
			ul, err := rdmacm.ListenUD(l0(t), 1)
			if err != nil {
				return err
			}
			defer ul.Close()
			_, err = ul.Accept(ctx, nil)
			return err
		}, rdmacm.ErrUnsupported},
		{"Listener.Accept", "closed UD listener", func() error {
			ul, err := rdmacm.ListenUD(l0(t), 1)
			if err != nil {
				return err
			}
			ul.Close()
			_, err = ul.Accept(ctx, nil)
			return err
		}, rdmacm.ErrClosed},
		{"ListenUD", "negative backlog", func() error { _, err := rdmacm.ListenUD(l0(t), -1); return err }, syscall.EINVAL},
		{"Listener.Resume", "nil listener", func() error { return nilL.Resume() }, rdmacm.ErrClosed},
		{"Listener.Pause", "closed listener", func() error { return closedL.Pause() }, rdmacm.ErrClosed},
		{"Listener.Resume", "closed listener", func() error { return closedL.Resume() }, rdmacm.ErrClosed},
		{"Listener.Accept", "nil listener", func() error { _, err := nilL.Accept(ctx, nil); return err }, rdmacm.ErrClosed},
		{"Listener.Accept", "closed listener", func() error { _, err := closedL.Accept(ctx, nil); return err }, rdmacm.ErrClosed},
		{"Listen", "negative backlog", func() error { _, err := rdmacm.Listen(l0(t), -1); return err }, syscall.EINVAL},
		{"Listen", "port 65536", func() error { _, err := rdmacm.Listen(testbed.Addr(t)+":65536", 1); return err }, nil},
		{"Listen", "address of no device", func() error { _, err := rdmacm.Listen("198.51.100.7:0", 1); return err }, syscall.EADDRNOTAVAIL},
		{"Endpoint.Close", "nil endpoint", func() error { return nilE.Close() }, rdmacm.ErrClosed},
		{"Dial", "empty address", func() error { _, err := rdmacm.Dial(ctx, "", nil); return err }, nil},
		{"Dial", "port 0", func() error { _, err := rdmacm.Dial(ctx, testbed.Addr(t)+":0", nil); return err }, nil},
		{"Dial", "closed port", func() error {
			_, err := rdmacm.Dial(ctx, closedL.Addr().String(), nil)
			return err
		}, rdmacm.ErrConnectionRefused},
		{"Dial", "negative BufferSize", func() error {
			_, err := rdmacm.Dial(ctx, l.Addr().String(), &rdmacm.EndpointOptions{BufferSize: -1})
			return err
		}, syscall.EINVAL},
	}
	if ud != nil {
		udLimit := newUD(false).MaxPrivateData(rdmacm.MsgConnect, false)
		tests = append(tests,
			badCase{"Connector.JoinMulticast", "UD connector not bound", func() error { _, err := newUD(false).JoinMulticast(ctx, "239.1.2.5", ud); return err }, rdmacm.ErrInvalidState},
			badCase{"Connector.Connect", "UD private data limit+1", func() error {
				return newUD(false).Connect(ctx, l.Addr().String(), ud, &rdmacm.ConnParams{PrivateData: make([]byte, udLimit+1)})
			}, rdmacm.ErrPrivateDataTooLong},
			badCase{"Connector.Connect", "retry counts on a UD lookup", func() error {
				return newUD(false).Connect(ctx, l.Addr().String(), ud, &rdmacm.ConnParams{Retry: &rdmacm.Retry{Count: 7, RNR: 7}})
			}, syscall.EINVAL})
		tests = append(tests, badCase{"Connector.Connect", "UD QP", func() error { return resolved().Connect(ctx, "", ud, nil) }, syscall.EINVAL},
			badCase{"Connector.InitQP", "UD QP", func() error { return resolved().InitQP(ud) }, syscall.EINVAL})
	}
	if other != "" {
		tests = append(tests, badCase{"Connector.Connect", "QP on another device", func() error {
			return resolved().Connect(ctx, "", newEndpoint(t, other).qp, nil)
		}, syscall.EINVAL},
			badCase{"Connector.InitQP", "QP on another device", func() error {
				return resolved().InitQP(newEndpoint(t, other).qp)
			}, syscall.EINVAL})
	}
	for _, tc := range tests {
		err := tc.call()
		switch {
		case err == nil:
			t.Errorf("%s with %s: no error", tc.api, tc.input)
		case tc.want != nil && !errors.Is(err, tc.want):
			t.Errorf("%s with %s: %v, want %v", tc.api, tc.input, err, tc.want)
		default:
			t.Logf("| %s | %s | %v |", tc.api, tc.input, err)
		}
	}

	// Accessors of nil and closed connectors give zero values.
	for _, c := range []*rdmacm.Connector{nilC, closedC} {
		if c.DeviceName() != "" || c.RawPrivateData() != nil || c.LocalAddr() == nil || c.PeerAddr() == nil {
			t.Errorf("accessors of a nil or closed connector: %q %x %v %v", c.DeviceName(), c.RawPrivateData(), c.LocalAddr(), c.PeerAddr())
		}
	}
	if nilC.Transport() != verbs.TransportUnknown || nilL.Requests() != nil || nilL.Addr() == nil {
		t.Error("accessors of nil objects")
	}
	select {
	case <-nilC.Disconnected():
	default:
		t.Error("Disconnected of a nil connector is not closed")
	}
}

// badCase is one call with bad input and the error it must wrap (nil: any).
type badCase struct {
	api, input string
	call       func() error
	want       error
}
