package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"

	"github.com/go-rdma/rdma/rdmacm"
	"github.com/go-rdma/rdma/verbs"
)

// client runs the configured test against the server.
func client(ctx context.Context, c *config, r *reporter) error {
	addr := net.JoinHostPort(c.server, strconv.Itoa(c.port))
	if c.mode == modeCMTime {
		y := newYielder(c.yield)
		for pass := 1; pass <= c.iters; pass++ {
			res, err := cmtime(ctx, addr, c.bind, c.conns, c.iters, y)
			if err != nil {
				return err
			}
			res.Pass = pass
			if err := r.emit(res); err != nil {
				return err
			}
		}
		return nil
	}
	req := &request{mode: c.mode, sizes: c.sizes(), iters: c.iters, inline: c.inline, conns: 1}
	cn, err := dial(ctx, addr, req, depth(c.mode, c.txDepth, c.inline), prepare(c.mode))
	if err != nil {
		return err
	}
	defer cn.close()
	if err := exercise(ctx, cn, req, false, c, r); err != nil {
		return err
	}
	r.end()
	return cn.cm.Disconnect(ctx)
}

// prepare returns what a connection of mode needs before it connects:
// send_lat's receives.
func prepare(mode string) func(*conn) error {
	return func(cn *conn) error {
		if mode == modeSendLat {
			return postRecvs(cn)
		}
		return nil
	}
}

// exercise runs req's sizes on cn, from the client's or the server's side,
// and reports them. The server's side of write_bw and read_lat is passive:
// it waits for the client to disconnect (awaitDisconnect). A side that runs
// a loop first settles (c.settle).
func exercise(ctx context.Context, cn *conn, req *request, server bool, c *config, r *reporter) error {
	if server && (req.mode == modeWriteBW || req.mode == modeReadLat) {
		return awaitDisconnect(ctx, cn)
	}
	y := newYielder(c.yield)
	var stamps []int64
	if req.mode != modeWriteBW {
		stamps = make([]int64, req.iters)
	}
	settle(c.settle, y)
	for _, size := range req.sizes {
		switch {
		case req.mode == modeWriteBW:
			p := bwParams{iters: req.iters, txDepth: c.txDepth, postList: c.postList, cqMod: c.cqMod, inline: req.inline, warmUp: c.warmUp}
			elapsed, err := writeBW(ctx, cn, size, p, y)
			if err != nil {
				return fmt.Errorf("%s %d B: %w", req.mode, size, err)
			}
			if err := r.emit(bandwidth(size, req.iters, elapsed)); err != nil {
				return err
			}
		case req.mode == modeSendLat || req.mode == modeWriteLat:
			if err := pingPong(ctx, cn, req.mode, size, req.iters, req.inline, server, stamps, y); err != nil {
				return fmt.Errorf("%s %d B: %w", req.mode, size, err)
			}
			if err := r.emit(latency(req.mode, size, stamps, c.unsorted)); err != nil {
				return err
			}
		case req.mode == modeReadLat:
			if err := readLat(ctx, cn, size, req.iters, stamps, y); err != nil {
				return fmt.Errorf("%s %d B: %w", req.mode, size, err)
			}
			if err := r.emit(latency(req.mode, size, stamps, c.unsorted)); err != nil {
				return err
			}
		}
	}
	return nil
}

// awaitDisconnect busy-polls cn's receive CQ until the peer disconnects or
// ctx is done. The passive server waits as perftest's does: its closing
// handshake (ctx_close_connection) polls a CQ for the client's last message
// all through the client's test, so its CPU never goes idle. A server that
// blocked instead would leave its vCPU halted while the client measures,
// and each of siw's read responses would have to wake it first, tens of
// microseconds under emulation; in write_bw the idle server gave the
// client's writes a vCPU that perftest's never has (BENCHMARKS.md, "The
// passive server: polling, as perftest's").
func awaitDisconnect(ctx context.Context, cn *conn) error {
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	down := cn.cm.Disconnected()
	go func() {
		select {
		case <-down:
		case <-pctx.Done():
		}
		cancel()
	}()
	wcs := make([]verbs.WorkCompletion, 1)
	for {
		_, err := cn.rcq.BusyPoll(pctx, wcs)
		select {
		case <-down:
			return nil
		default:
		}
		if err != nil {
			return fmt.Errorf("waiting for the client to disconnect: %w", err)
		}
	}
}

// serve accepts one test (one connection, or cmtime's connections), runs
// the server's side of it and returns when the client has disconnected.
func serve(ctx context.Context, c *config, stdout io.Writer) error {
	l, err := rdmacm.Listen(hostPort(c.bind, c.port), 1024)
	if err != nil {
		return err
	}
	defer l.Close()
	return serveOn(ctx, l, c, stdout)
}

// serveOn is serve on a listener. When the listener is bound to a device,
// cmtime's verbs objects are made on it before the first request, as C
// cmtime's server has librdmacm's by then.
func serveOn(ctx context.Context, l *rdmacm.Listener, c *config, stdout io.Writer) error {
	var shared *cmShared
	if dev := l.DeviceName(); dev != "" {
		var err error
		if shared, err = openShared(dev); err != nil {
			return err
		}
		defer shared.close()
	}
	cm, err := l.GetConnectionRequest(ctx)
	if err != nil {
		return err
	}
	data, err := cm.ConnectionData()
	if err != nil {
		cm.Close()
		return err
	}
	req, err := unmarshalRequest(data.PrivateData)
	if err != nil {
		cm.Reject(nil)
		cm.Close()
		return err
	}
	if req.mode == modeCMTime {
		if shared == nil {
			if shared, err = openShared(cm.DeviceName()); err != nil {
				cm.Reject(nil)
				cm.Close()
				return err
			}
			defer shared.close()
		}
		for pass := 1; ; pass++ {
			if err := serveCMTime(ctx, l, cm, req.conns, shared); err != nil || pass == req.iters {
				return err
			}
			if cm, err = l.GetConnectionRequest(ctx); err != nil {
				return err
			}
		}
	}
	cn, err := open(cm, maxOf(req.sizes), depth(req.mode, 16, req.inline))
	if err != nil {
		// open closed the connector, and the destroyed request is refused.
		return err
	}
	defer cn.close()
	if err := prepare(req.mode)(cn); err != nil {
		return err
	}
	p, err := cn.params(reply(cn.mr.Addr(), cn.mr.RKey()))
	if err != nil {
		return err
	}
	if err := cm.Accept(ctx, cn.qp, p); err != nil {
		return err
	}
	cn.raddr, cn.rkey = req.addr, req.rkey
	r := newReporter(c, stdout)
	if err := exercise(ctx, cn, req, true, c, r); err != nil {
		return err
	}
	r.end()
	select {
	case <-cm.Disconnected():
		return nil
	case <-ctx.Done():
		return errors.New("waiting for the client to disconnect: " + ctx.Err().Error())
	}
}

// hostPort joins an IP address (empty: any) and a port.
func hostPort(ip string, port int) string {
	if ip == "" {
		ip = "0.0.0.0"
	}
	return net.JoinHostPort(ip, strconv.Itoa(port))
}
