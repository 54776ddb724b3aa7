package rdmacm

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-rdma/rdma/verbs"
)

// Endpoint is the common case made short: a connected RC queue pair with the
// device context, protection domain, completion queue (shared by sends and
// receives) and one registered buffer it needs, made by Dial or
// Listener.Accept. Its Connector is embedded: ConnectionData, Disconnect,
// Disconnected, PeerAddr… apply to it. As with any embedded field, those
// need an Endpoint (a zero one answers ErrClosed); only Close takes a nil
// *Endpoint.
type Endpoint struct {
	*Connector
	Context *verbs.Context
	PD      *verbs.PD
	CQ      *verbs.CQ
	QP      *verbs.QP
	Buffer  *verbs.Buffer
	MR      *verbs.MR
}

// EndpointOptions shape an Endpoint; the zero value (or nil) gives the
// defaults.
type EndpointOptions struct {
	// BufferSize is the size of the registered buffer (default 64 KiB).
	BufferSize int
	// Access is the buffer's access (default local write, remote read and
	// write).
	Access verbs.Access
	// Cap sizes the QP (default 64 send and receive requests, 1 SGE each).
	Cap verbs.QPCap
	// Params are offered to the peer (nil: the device's maximum read
	// limits, no private data).
	Params *ConnParams
	// LocalAddr binds the active side ("ip:port", port 0 for any).
	LocalAddr string
	// Configure runs first on the endpoint's Connector: in Dial before Bind
	// and Resolve, in Listener.Accept on the request's before anything is
	// made for it (an error there rejects the request). Set the
	// connection's options there: SetTOS and SetReuseAddr apply to Dial,
	// SetAckTimeout to both.
	Configure func(*Connector) error
	// BeforeConnect runs once the QP can take receives and before the
	// connection is requested or accepted: post the receives the peer's
	// first messages need there (required on iWARP, which has no RNR retry).
	BeforeConnect func(*Endpoint) error
}

func (o *EndpointOptions) withDefaults() EndpointOptions {
	var d EndpointOptions
	if o != nil {
		d = *o
	}
	if d.BufferSize == 0 {
		d.BufferSize = 64 << 10
	}
	if d.Access == 0 {
		d.Access = verbs.AccessLocalWrite | verbs.AccessRemoteRead | verbs.AccessRemoteWrite
	}
	if d.Cap == (verbs.QPCap{}) {
		d.Cap = verbs.QPCap{MaxSendWR: 64, MaxRecvWR: 64, MaxSendSGE: 1, MaxRecvSGE: 1}
	}
	return d
}

// Dial connects to address ("host:port") and returns the connected
// Endpoint: resolve, make the verbs objects on the device the route goes
// through, connect and, on IB and RoCE, complete the connection.
func Dial(ctx context.Context, address string, opts *EndpointOptions) (*Endpoint, error) {
	if ctx == nil {
		return nil, &OpError{Op: "dial", Addr: address, Err: errNilContext}
	}
	o := opts.withDefaults()
	c, err := NewConnector()
	if err != nil {
		return nil, err
	}
	e := &Endpoint{Connector: c}
	err = func() error {
		if o.Configure != nil {
			if err := o.Configure(c); err != nil {
				return err
			}
		}
		if o.LocalAddr != "" {
			if err := c.Bind(o.LocalAddr); err != nil {
				return err
			}
		}
		if err := c.Resolve(ctx, address); err != nil {
			return err
		}
		if err := e.build(o); err != nil {
			return err
		}
		if err := c.Connect(ctx, "", e.QP, o.Params); err != nil {
			return err
		}
		return c.CompleteConnect(ctx)
	}()
	if err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// Accept takes the next connection request, makes the verbs objects on its
// device, accepts it and returns the connected Endpoint. A request that
// cannot be served (its verbs objects fail) is rejected.
func (l *Listener) Accept(ctx context.Context, opts *EndpointOptions) (*Endpoint, error) {
	if ctx == nil {
		return nil, &OpError{Op: "accept", Err: l.nilContext()}
	}
	if l != nil && l.ud && !l.isClosed() {
		return nil, &OpError{Op: "accept", Addr: l.Addr().String(), Err: fmt.Errorf("an Endpoint is an RC connection; take UD lookups with GetConnectionRequest: %w", ErrUnsupported)}
	}
	o := opts.withDefaults()
	c, err := l.GetConnectionRequest(ctx)
	if err != nil {
		return nil, err
	}
	e := &Endpoint{Connector: c}
	if o.Configure != nil {
		err = o.Configure(c)
	}
	if err == nil {
		err = e.build(o)
	}
	if err != nil {
		c.Reject(nil)
		e.Close()
		return nil, err
	}
	if err := c.Accept(ctx, e.QP, o.Params); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// build makes the verbs objects on the connector's device, moves the QP to
// INIT and runs BeforeConnect.
func (e *Endpoint) build(o EndpointOptions) error {
	var err error
	if e.Context, err = verbs.Open(e.DeviceName()); err != nil {
		return err
	}
	if e.PD, err = e.Context.AllocPD(); err != nil {
		return err
	}
	if e.CQ, err = e.Context.CreateCQ(int(o.Cap.MaxSendWR+o.Cap.MaxRecvWR), nil); err != nil {
		return err
	}
	if e.QP, err = e.PD.CreateQP(&verbs.QPInitAttr{Type: verbs.QPTypeRC, SendCQ: e.CQ, RecvCQ: e.CQ, Cap: o.Cap}); err != nil {
		return err
	}
	if e.Buffer, err = verbs.NewBuffer(o.BufferSize, nil); err != nil {
		return err
	}
	if e.MR, err = e.PD.RegMR(e.Buffer, 0, 0, o.Access); err != nil {
		return err
	}
	if err := e.InitQP(e.QP); err != nil {
		return err
	}
	if o.BeforeConnect != nil {
		return o.BeforeConnect(e)
	}
	return nil
}

// Close closes the connector (ending the connection) and then every verbs
// object of the endpoint, children first.
func (e *Endpoint) Close() error {
	if e == nil {
		return &OpError{Op: "close", Err: ErrClosed}
	}
	errs := []error{e.Connector.Close()}
	closeIf := func(made bool, c interface{ Close() error }) {
		if made {
			errs = append(errs, c.Close())
		}
	}
	// Objects a failed Dial or Accept never made are skipped.
	closeIf(e.QP != nil, e.QP)
	closeIf(e.MR != nil, e.MR)
	closeIf(e.Buffer != nil, e.Buffer)
	closeIf(e.CQ != nil, e.CQ)
	closeIf(e.PD != nil, e.PD)
	closeIf(e.Context != nil, e.Context)
	return errors.Join(errs...)
}
