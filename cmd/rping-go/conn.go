package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/go-rdma/rdma/rdmacm"
	"github.com/go-rdma/rdma/verbs"
)

// infoLen is sizeof(struct rping_rdma_info): the advertisement {buf u64,
// rkey u32, size u32}, big-endian, that both sides send.
const infoLen = 16

// rdmaInfo is struct rping_rdma_info.
type rdmaInfo struct {
	addr uint64
	rkey uint32
	size uint32
}

func (i rdmaInfo) put(b []byte) {
	binary.BigEndian.PutUint64(b[0:8], i.addr)
	binary.BigEndian.PutUint32(b[8:12], i.rkey)
	binary.BigEndian.PutUint32(b[12:16], i.size)
}

func getInfo(b []byte) rdmaInfo {
	return rdmaInfo{binary.BigEndian.Uint64(b[0:8]), binary.BigEndian.Uint32(b[8:12]), binary.BigEndian.Uint32(b[12:16])}
}

// Work request IDs, indexing conn.done.
const (
	wrRecv = iota
	wrSend
	wrRead
	wrWrite
	numWR
)

var wrNames = [numWR]string{"RECV", "SEND", "RDMA READ", "RDMA WRITE"}

// Queue sizes, as in rping.c.
const (
	sqDepth = 16 // RPING_SQ_DEPTH
	rqDepth = 2
)

// errPeerGone is returned when the connection ended under a waiting call:
// the peer disconnected and the QP's requests were flushed.
var errPeerGone = errors.New("the peer disconnected")

// wcFailure is a failed work completion, named by its request.
type wcFailure struct {
	op  string
	err *verbs.WCError
}

func (e *wcFailure) Error() string {
	return fmt.Sprintf("%s completion failed: %s (status %d)", e.op, e.err.Status, int(e.err.Status))
}

func (e *wcFailure) Unwrap() error { return e.err }

// conn is the verbs side of one connection: rping_cb's PD, CQ, QP and the
// four registered buffers (recv and send advertisements, the RDMA sink and,
// on the client, the RDMA read source).
type conn struct {
	cm    *rdmacm.Connector
	dev   *verbs.Context
	pd    *verbs.PD
	cq    *verbs.CQ
	qp    *verbs.QP
	buf   *verbs.Buffer
	recv  *verbs.MR // infoLen bytes: the peer's advertisements land here
	send  *verbs.MR // infoLen bytes: ours
	rdma  *verbs.MR // the sink: where the server reads into, or writes to on the client
	start *verbs.MR // client only: the ping data the server reads

	wcs  []verbs.WorkCompletion
	done [numWR]int // completions seen and not yet consumed by await
	peer rdmaInfo   // the last advertisement received
}

// newConn opens device and creates the resources of one connection with an
// RDMA sink of rdmaLen bytes and, when startLen > 0, a source of startLen.
func newConn(cm *rdmacm.Connector, device string, rdmaLen, startLen int) (_ *conn, err error) {
	c := &conn{cm: cm, wcs: make([]verbs.WorkCompletion, 2*sqDepth)}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	if c.dev, err = verbs.Open(device); err != nil {
		return nil, err
	}
	if c.pd, err = c.dev.AllocPD(); err != nil {
		return nil, err
	}
	if c.cq, err = c.dev.CreateCQ(2*sqDepth, nil); err != nil {
		return nil, err
	}
	c.qp, err = c.pd.CreateQP(&verbs.QPInitAttr{Type: verbs.QPTypeRC, SendCQ: c.cq, RecvCQ: c.cq,
		Cap: verbs.QPCap{MaxSendWR: sqDepth, MaxRecvWR: rqDepth, MaxSendSGE: 1, MaxRecvSGE: 1}})
	if err != nil {
		return nil, err
	}
	if c.buf, err = verbs.NewBuffer(2*infoLen+rdmaLen+startLen, nil); err != nil {
		return nil, err
	}
	remote := verbs.AccessLocalWrite | verbs.AccessRemoteRead | verbs.AccessRemoteWrite
	if c.recv, err = c.pd.RegMR(c.buf, 0, infoLen, verbs.AccessLocalWrite); err != nil {
		return nil, err
	}
	if c.send, err = c.pd.RegMR(c.buf, infoLen, infoLen, 0); err != nil {
		return nil, err
	}
	if c.rdma, err = c.pd.RegMR(c.buf, 2*infoLen, rdmaLen, remote); err != nil {
		return nil, err
	}
	if startLen > 0 {
		if c.start, err = c.pd.RegMR(c.buf, 2*infoLen+rdmaLen, startLen, remote); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// close releases what newConn created, in reverse order.
func (c *conn) close() {
	for _, o := range []interface{ Close() error }{c.qp, c.start, c.rdma, c.send, c.recv, c.buf, c.cq, c.pd, c.dev} {
		if o != nil {
			o.Close()
		}
	}
}

// postRecv posts the receive of the peer's next advertisement.
func (c *conn) postRecv() error {
	return c.qp.PostRecv([]verbs.RecvWR{{ID: wrRecv, SGL: []verbs.SGE{c.recv.SGE(0, infoLen)}}})
}

// advertise sends {addr, rkey, size} of mr's first size bytes; a zero mr
// sends the zeroed go-ahead the rping server sends.
func (c *conn) advertise(mr *verbs.MR, size int) error {
	var info rdmaInfo
	if mr != nil {
		info = rdmaInfo{addr: mr.Addr(), rkey: mr.RKey(), size: uint32(size)}
	}
	info.put(c.send.Bytes())
	return c.qp.PostSend([]verbs.SendWR{{ID: wrSend, Opcode: verbs.WRSend, Flags: verbs.SendSignaled,
		SGL: []verbs.SGE{c.send.SGE(0, infoLen)}}})
}

// rdmaOp reads the peer's buffer into the sink (wrRead) or writes the
// sink's first n bytes to it (wrWrite).
func (c *conn) rdmaOp(id int, remote rdmaInfo, n int) error {
	op := verbs.WRRDMARead
	if id == wrWrite {
		op = verbs.WRRDMAWrite
	}
	return c.qp.PostSend([]verbs.SendWR{{ID: uint64(id), Opcode: op, Flags: verbs.SendSignaled,
		SGL: []verbs.SGE{c.rdma.SGE(0, n)}, RemoteAddr: remote.addr, RKey: remote.rkey}})
}

// await waits until each of ids has completed, consuming one completion of
// each. A received advertisement is kept in c.peer and the receive
// reposted at once, as rping's completion handler does.
func (c *conn) await(ctx context.Context, ids ...int) error {
	for {
		ready := true
		for _, id := range ids {
			ready = ready && c.done[id] > 0
		}
		if ready {
			for _, id := range ids {
				c.done[id]--
			}
			return nil
		}
		n, err := c.cq.PollWait(ctx, c.wcs)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		// A failure other than a flush first: the flushes it caused may
		// have been polled before it, and would hide it.
		for i := range c.wcs[:n] {
			if st := c.wcs[i].Status; st != verbs.WCSuccess && st != verbs.WCWRFlushErr && st != verbs.WCLocQPOpErr {
				return c.complete(&c.wcs[i])
			}
		}
		for i := range c.wcs[:n] {
			if err := c.complete(&c.wcs[i]); err != nil {
				return err
			}
		}
	}
}

// complete handles one completion.
func (c *conn) complete(wc *verbs.WorkCompletion) error {
	if wc.WRID >= numWR {
		return fmt.Errorf("completion of unknown work request %d", wc.WRID)
	}
	if err := wc.Err(); err != nil {
		if (wc.Status == verbs.WCWRFlushErr || wc.Status == verbs.WCLocQPOpErr) && c.disconnected(flushGrace) {
			// The request failed as the connection ended: flushed, or
			// (siw, the peer gone in the middle of an RDMA WRITE) with a
			// local QP operation error. Other failures (a remote access
			// error, say) are the run's, whatever follows.
			return errPeerGone
		}
		var we *verbs.WCError
		errors.As(err, &we)
		return &wcFailure{op: wrNames[wc.WRID], err: we}
	}
	if wc.WRID == wrRecv {
		if wc.ByteLen != infoLen {
			return fmt.Errorf("Received bogus data, size %d", wc.ByteLen)
		}
		c.peer = getInfo(c.recv.Bytes())
		if err := c.postRecv(); err != nil {
			return err
		}
	}
	c.done[wc.WRID]++
	return nil
}

// flushGrace is how long a failed request waits for the disconnect event
// that explains it: on iWARP the peer's close can flush the QP, or fail a
// request in progress, before the DISCONNECTED event arrives.
const flushGrace = 2 * time.Second

// disconnected reports whether the connection is (or, within wait, becomes)
// disconnected.
func (c *conn) disconnected(wait time.Duration) bool {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-c.cm.Disconnected():
		return true
	case <-t.C:
		return false
	}
}
