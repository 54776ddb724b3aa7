package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/go-rdma/rdma/rdmacm"
)

// setupTimeout bounds address resolution, connection and disconnection;
// the pings themselves run as long as -C asks.
const setupTimeout = 30 * time.Second

// disconnectWait bounds the wait for the answer to the client's
// disconnect.
const disconnectWait = 2 * time.Second

// rping's connection parameters: one RDMA read in flight each way.
// connParams are C rping's: one RDMA read in flight each way, and no private
// data (raw: not even the binding's 3-byte frame).
var connParams = rdmacm.ConnParams{InboundReadLimit: 1, OutboundReadLimit: 1, RawPrivateData: true}

// fillPattern writes rping's ping data for ping number ping into b:
// "rdma-ping-<ping>: " then letters from 'A'+ping%58 cycling through
// 'A'..'z', NUL-terminated at the end of b (len(b) ≥ minSize).
func fillPattern(b []byte, ping int) {
	// C rping counts in an int, which wraps after 2^31 pings.
	i := copy(b[:len(b)-1], fmt.Sprintf("rdma-ping-%d: ", int32(ping)))
	for c := byte('A' + ping%58); i < len(b); i++ {
		b[i] = c
		if c++; c > 'z' {
			c = 'A'
		}
	}
	b[len(b)-1] = 0
}

// cstring returns b up to its first NUL, as printf's %s reads it.
func cstring(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

// runClient connects to the server and pings -C times (or until ctx is
// cancelled), then disconnects.
func runClient(ctx context.Context, cfg *config, e *env) error {
	raddr := net.JoinHostPort(cfg.addr, strconv.Itoa(cfg.port))
	cm, err := rdmacm.NewConnector()
	if err != nil {
		return err
	}
	defer cm.Close()
	setup, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	if cfg.source != "" {
		if err := cm.Bind(net.JoinHostPort(cfg.source, "0")); err != nil {
			return err
		}
	}
	if err := cm.Resolve(setup, raddr); err != nil {
		return err
	}
	e.debugf("rdma_resolve_addr - rdma_resolve_route successful: device %s\n", cm.DeviceName())
	c, err := newConn(cm, cm.DeviceName(), cfg.size, cfg.size)
	if err != nil {
		return err
	}
	defer c.close()
	e.debugf("created qp %#x (QP created by us, connected through rdma_cm%s)\n", c.qp.Num(), selfQPNote(cfg))
	if err := cm.InitQP(c.qp); err != nil {
		return err
	}
	if err := c.postRecv(); err != nil {
		return err
	}
	params := connParams
	if err := cm.Connect(setup, raddr, c.qp, &params); err != nil {
		return err
	}
	if err := cm.CompleteConnect(setup); err != nil {
		return err
	}
	e.debugf("rdma_connect successful\n")
	st := newStats()
	err = c.pingServer(ctx, cfg, e, st)
	if errors.Is(err, context.Canceled) {
		err = nil // interrupted: a normal end
	}
	if err == nil {
		// C rping does not wait for its disconnect to complete: a server
		// that never answers it (gone, or busy) ends nothing but the wait.
		disc, cancel := context.WithTimeout(context.Background(), disconnectWait)
		defer cancel()
		if err = cm.Disconnect(disc); errors.Is(err, context.DeadlineExceeded) {
			e.debugf("the server did not answer the disconnect in %v\n", disconnectWait)
			err = nil
		}
	}
	e.summary(st.summary("client", raddr, cfg.size, err))
	return peerGone(e, err)
}

// peerGone ends a run that err ended: a peer that disconnected mid-run
// ends it normally, as in C rping (which returns 0 on finding its
// connection DISCONNECTED), with a line on stderr naming the ping; any
// other error is the run's.
func peerGone(e *env, err error) error {
	if errors.Is(err, errPeerGone) {
		e.errorf(err)
		return nil
	}
	return err
}

func selfQPNote(cfg *config) string {
	if cfg.selfQP {
		return ", -q: the same path"
	}
	return ""
}

// pingServer is rping_test_client.
func (c *conn) pingServer(ctx context.Context, cfg *config, e *env, st *stats) error {
	start, sink := c.start.Bytes(), c.rdma.Bytes()
	p := e.progress(cfg)
	defer p.clear()
	for ping := 0; cfg.count == 0 || ping < cfg.count; ping++ {
		fillPattern(start, ping)
		t0 := time.Now()
		e.debugf("RDMA addr %x rkey %x len %d\n", c.start.Addr(), c.start.RKey(), cfg.size)
		if err := c.advertise(c.start, cfg.size); err != nil {
			return err
		}
		if err := c.await(ctx, wrSend, wrRecv); err != nil {
			return c.during(ping, err)
		}
		e.debugf("RDMA addr %x rkey %x len %d\n", c.rdma.Addr(), c.rdma.RKey(), cfg.size)
		if err := c.advertise(c.rdma, cfg.size); err != nil {
			return err
		}
		if err := c.await(ctx, wrSend, wrRecv); err != nil {
			return c.during(ping, err)
		}
		st.add(time.Since(t0), 2*cfg.size)
		if cfg.validate && !bytes.Equal(start, sink) {
			return fmt.Errorf("data mismatch! ping %d came back as %q", ping, cstring(sink))
		}
		if cfg.verbose {
			e.printf("ping data: %s\n", cstring(sink))
		}
		p.update(st)
	}
	return nil
}

// during names the ping an error interrupted.
func (c *conn) during(ping int, err error) error {
	if errors.Is(err, errPeerGone) {
		return fmt.Errorf("%w during ping %d", err, ping)
	}
	return err
}

// runServer listens and serves one client, or with -P every client, each
// on its own goroutine, until ctx is cancelled.
func runServer(ctx context.Context, cfg *config, e *env) error {
	l, err := rdmacm.Listen(net.JoinHostPort(cfg.addr, strconv.Itoa(cfg.port)), 3)
	if err != nil {
		return err
	}
	defer l.Close()
	e.debugf("rdma_listen on %s\n", l.Addr())
	if e.ready != nil {
		e.ready(l.Addr())
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		cm, err := l.GetConnectionRequest(ctx)
		if errors.Is(err, context.Canceled) {
			return nil
		}
		if err != nil {
			return err
		}
		e.debugf("connection request from %s\n", cm.PeerAddr())
		if !cfg.persistent {
			l.Close()
			return serve(ctx, cfg, e, cm)
		}
		wg.Go(func() {
			if err := serve(ctx, cfg, e, cm); err != nil {
				e.errorf(err)
			}
		})
	}
}

// serve accepts one connection request and runs rping_test_server on it
// until the client disconnects.
func serve(ctx context.Context, cfg *config, e *env, cm *rdmacm.Connector) error {
	defer cm.Close()
	peer := cm.PeerAddr().String()
	// The sink takes any size a client may ask (-S is the client's choice).
	c, err := newConn(cm, cm.DeviceName(), bufSize, 0)
	if err != nil {
		cm.Reject(nil)
		return err
	}
	defer c.close()
	e.debugf("created qp %#x (QP created by us, accepted through rdma_cm%s)\n", c.qp.Num(), selfQPNote(cfg))
	if err := cm.InitQP(c.qp); err != nil {
		cm.Reject(nil)
		return err
	}
	if err := c.postRecv(); err != nil {
		cm.Reject(nil)
		return err
	}
	setup, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	params := connParams
	if err := cm.Accept(setup, c.qp, &params); err != nil {
		return err
	}
	st := newStats()
	err = c.pingClient(ctx, cfg, e, st)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	disc, cancelDisc := context.WithTimeout(context.Background(), setupTimeout)
	defer cancelDisc()
	cm.Disconnect(disc)
	e.summary(st.summary("server", peer, 0, err))
	if err != nil {
		return peerGone(e, fmt.Errorf("client %s: %w", peer, err))
	}
	return nil
}

// pingClient is rping_test_server: for each ping, read the client's data,
// send the go-ahead, write the data back to the client's sink, send the
// go-ahead.
func (c *conn) pingClient(ctx context.Context, cfg *config, e *env, st *stats) error {
	var want []byte
	for ping := 0; ; ping++ {
		if err := c.await(ctx, wrRecv); err != nil {
			if errors.Is(err, errPeerGone) {
				return nil // the client is done
			}
			return err
		}
		t0 := time.Now()
		src := c.peer
		e.debugf("Received rkey %x addr %x len %d from peer\n", src.rkey, src.addr, src.size)
		if src.size == 0 || src.size > bufSize {
			return fmt.Errorf("the client advertised %d bytes of ping data, valid sizes are 1 to %d", src.size, bufSize)
		}
		if err := c.rdmaOp(wrRead, src, int(src.size)); err != nil {
			return err
		}
		if err := c.await(ctx, wrRead); err != nil {
			return c.during(ping, err)
		}
		data := c.rdma.Bytes()[:src.size]
		if cfg.validate {
			want = append(want[:0], make([]byte, len(data))...)
			fillPattern(want, ping)
			if !bytes.Equal(data, want) {
				return fmt.Errorf("data mismatch! ping %d read as %q, want %q", ping, cstring(data), cstring(want))
			}
		}
		if cfg.verbose {
			e.printf("server ping data: %s\n", cstring(data))
		}
		if err := c.advertise(nil, 0); err != nil {
			return err
		}
		if err := c.await(ctx, wrSend, wrRecv); err != nil {
			return c.during(ping, err)
		}
		sink := c.peer
		n := min(len(cstring(data))+1, len(data), int(sink.size))
		e.debugf("rdma write from lkey %x laddr %x len %d\n", c.rdma.LKey(), c.rdma.Addr(), n)
		if err := c.rdmaOp(wrWrite, sink, n); err != nil {
			return err
		}
		if err := c.await(ctx, wrWrite); err != nil {
			return c.during(ping, err)
		}
		if err := c.advertise(nil, 0); err != nil {
			return err
		}
		err := c.await(ctx, wrSend)
		if err != nil && !errors.Is(err, errPeerGone) {
			return err
		}
		// A client whose last ping this was may disconnect on receiving
		// the go-ahead, before its acknowledgement completes our send.
		st.add(time.Since(t0), int(src.size)+n)
		if err != nil {
			return nil
		}
	}
}
