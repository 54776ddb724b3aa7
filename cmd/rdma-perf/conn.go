package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/go-rdma/rdma/rdmacm"
	"github.com/go-rdma/rdma/verbs"
)

// request is what the client asks of the server, in the connection
// request's private data; the server answers with its buffer (reply).
type request struct {
	mode   string
	sizes  []int // one size, or -a
	iters  int
	inline int
	conns  int
	addr   uint64
	rkey   uint32
}

const requestLen = 1 + 1 + 4 + 4 + 4 + 4 + 8 + 4

func (r *request) marshal() []byte {
	b := make([]byte, requestLen)
	for i, m := range modes {
		if m == r.mode {
			b[0] = byte(i)
		}
	}
	size := r.sizes[0]
	if len(r.sizes) > 1 {
		b[1] = 1
	}
	binary.LittleEndian.PutUint32(b[2:], uint32(size))
	binary.LittleEndian.PutUint32(b[6:], uint32(r.iters))
	binary.LittleEndian.PutUint32(b[10:], uint32(r.inline))
	binary.LittleEndian.PutUint32(b[14:], uint32(r.conns))
	binary.LittleEndian.PutUint64(b[18:], r.addr)
	binary.LittleEndian.PutUint32(b[26:], r.rkey)
	return b
}

func unmarshalRequest(b []byte) (*request, error) {
	if len(b) != requestLen || int(b[0]) >= len(modes) {
		return nil, fmt.Errorf("not an rdma-perf request (%d bytes of private data)", len(b))
	}
	c := config{mode: modes[b[0]], all: b[1] == 1, size: int(binary.LittleEndian.Uint32(b[2:]))}
	r := &request{
		mode:   c.mode,
		sizes:  c.sizes(),
		iters:  int(binary.LittleEndian.Uint32(b[6:])),
		inline: int(binary.LittleEndian.Uint32(b[10:])),
		conns:  int(binary.LittleEndian.Uint32(b[14:])),
		addr:   binary.LittleEndian.Uint64(b[18:]),
		rkey:   binary.LittleEndian.Uint32(b[26:]),
	}
	if r.sizes[0] < 1 || r.sizes[0] > maxSize || r.iters < minIters(r.mode) || r.iters > maxIters ||
		r.conns < 1 || r.conns > maxConns || r.inline < 0 || r.inline > maxInline {
		return nil, fmt.Errorf("bad request: sizes %v, %d iterations, %d connections", r.sizes, r.iters, r.conns)
	}
	return r, nil
}

// reply carries the server's buffer to the client.
func reply(addr uint64, rkey uint32) []byte {
	b := make([]byte, 12)
	binary.LittleEndian.PutUint64(b, addr)
	binary.LittleEndian.PutUint32(b[8:], rkey)
	return b
}

// conn is one test connection with its verbs objects: separate send and
// receive CQs, and one buffer holding the receive region (first half) and
// the send region (second half).
type conn struct {
	cm       *rdmacm.Connector
	ctx      *verbs.Context
	pd       *verbs.PD
	scq, rcq *verbs.CQ
	qp       *verbs.QP
	buf      *verbs.Buffer
	mr       *verbs.MR
	half     int // offset of the send region
	// The peer's buffer.
	raddr uint64
	rkey  uint32
}

// qpDepth is the send and receive queue depth of a test connection.
type qpDepth struct {
	send, recv, inline int
}

// open makes the verbs objects on the connector's device for messages of
// up to size bytes and moves the QP to INIT.
func open(cm *rdmacm.Connector, size int, d qpDepth) (*conn, error) {
	c := &conn{cm: cm}
	err := func() error {
		var err error
		if c.ctx, err = verbs.Open(cm.DeviceName()); err != nil {
			return err
		}
		if c.pd, err = c.ctx.AllocPD(); err != nil {
			return err
		}
		if c.scq, err = c.ctx.CreateCQ(d.send, nil); err != nil {
			return err
		}
		if c.rcq, err = c.ctx.CreateCQ(d.recv, nil); err != nil {
			return err
		}
		c.qp, err = c.pd.CreateQP(&verbs.QPInitAttr{
			Type: verbs.QPTypeRC, SendCQ: c.scq, RecvCQ: c.rcq,
			Cap: verbs.QPCap{MaxSendWR: uint32(d.send), MaxRecvWR: uint32(d.recv), MaxSendSGE: 1, MaxRecvSGE: 1,
				MaxInlineData: uint32(d.inline)},
		})
		if err != nil {
			return err
		}
		c.half = (size + 4095) &^ 4095
		if c.buf, err = verbs.NewBuffer(2*c.half, nil); err != nil {
			return err
		}
		if c.mr, err = c.pd.RegMR(c.buf, 0, 0, verbs.AccessLocalWrite|verbs.AccessRemoteRead|verbs.AccessRemoteWrite); err != nil {
			return err
		}
		return cm.InitQP(c.qp)
	}()
	if err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// params are the connection parameters carrying privateData: the device's
// read limits.
func (c *conn) params(privateData []byte) (*rdmacm.ConnParams, error) {
	a, err := c.ctx.QueryDevice()
	if err != nil {
		return nil, err
	}
	return &rdmacm.ConnParams{InboundReadLimit: min(a.MaxQPRdAtom, 255), OutboundReadLimit: min(a.MaxQPInitRdAtom, 255),
		PrivateData: privateData}, nil
}

// close ends the connection and frees its objects, children first.
func (c *conn) close() error {
	errs := []error{c.cm.Close()}
	add := func(made bool, o interface{ Close() error }) {
		if made {
			errs = append(errs, o.Close())
		}
	}
	add(c.qp != nil, c.qp)
	add(c.mr != nil, c.mr)
	add(c.buf != nil, c.buf)
	add(c.scq != nil, c.scq)
	add(c.rcq != nil, c.rcq)
	add(c.pd != nil, c.pd)
	add(c.ctx != nil, c.ctx)
	return errors.Join(errs...)
}

// depth returns the queue depths a mode needs. The latency modes have one
// request outstanding at a time and a send queue of one entry, as perftest's
// latency tests (tx depth 1); libsiw, for one, decides whether to ring its
// doorbell from the state of the previous entry.
func depth(mode string, txDepth, inline int) qpDepth {
	switch mode {
	case modeWriteBW:
		return qpDepth{send: txDepth, recv: 1, inline: inline}
	case modeSendLat:
		return qpDepth{send: 1, recv: recvRing, inline: inline}
	default:
		return qpDepth{send: 1, recv: 1, inline: inline}
	}
}

// dial connects to the server with req and returns the connection.
func dial(ctx context.Context, addr string, req *request, d qpDepth, prepare func(*conn) error) (*conn, error) {
	cm, err := rdmacm.NewConnector()
	if err != nil {
		return nil, err
	}
	if err := cm.Resolve(ctx, addr); err != nil {
		cm.Close()
		return nil, err
	}
	c, err := open(cm, maxOf(req.sizes), d)
	if err != nil {
		cm.Close()
		return nil, err
	}
	err = func() error {
		if err := prepare(c); err != nil {
			return err
		}
		req.addr, req.rkey = c.mr.Addr(), c.mr.RKey()
		p, err := c.params(req.marshal())
		if err != nil {
			return err
		}
		if err := cm.Connect(ctx, "", c.qp, p); err != nil {
			return err
		}
		if err := cm.CompleteConnect(ctx); err != nil {
			return err
		}
		data, err := cm.ConnectionData()
		if err != nil {
			return err
		}
		if len(data.PrivateData) != 12 {
			return fmt.Errorf("server's answer: %d bytes of private data, want 12 (not an rdma-perf server?)", len(data.PrivateData))
		}
		c.raddr, c.rkey = binary.LittleEndian.Uint64(data.PrivateData), binary.LittleEndian.Uint32(data.PrivateData[8:])
		return nil
	}()
	if err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func maxOf(s []int) int {
	m := 0
	for _, v := range s {
		m = max(m, v)
	}
	return m
}
