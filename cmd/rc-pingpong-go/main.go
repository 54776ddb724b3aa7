// Command rc-pingpong-go is ibv_rc_pingpong (rdma-core's libibverbs example)
// over the go-rdma verbs API: two processes connect RC QPs by exchanging
// LID, QPN, PSN and GID over TCP in ibv_rc_pingpong's format, then bounce a
// message back and forth. It interoperates with the C tool both ways on IB
// and RoCE; neither tool runs on iWARP, whose QPs reach RTS only through
// the iWARP connection manager.
//
// Usage:
//
//	rc-pingpong-go [options]          start a server and wait for connection
//	rc-pingpong-go [options] <host>   connect to the server at <host>
//
// Options are ibv_rc_pingpong's: -p port (default 18515), -d device (default
// the first found), -i IB port (1), -s size (4096), -m MTU (1024), -r receive
// depth (500), -n iterations (1000), -l service level (0), -e (sleep on CQ
// events instead of polling), -g GID index (none: LID addressing, as on IB).
// They are parsed as ibv_rc_pingpong's getopt_long parses them: grouped or
// attached (-eg0), long forms (--ib-dev=rxe0, --iters 10, or a prefix such
// as --it), options after <host>, numbers in C's notation (0x1f, 017).
// ibv_rc_pingpong's on-demand paging, timestamp, device memory, checksum
// and new-send options (-o -O -P -t -c -j -N) are not supported.
//
// Where it differs: -h and --help print the usage and exit 0 (C: an
// invalid option, exit 1); numbers must be whole (C's strtoul reads "10k"
// as 10 and truncates to 32 bits); -n 0, -s 0, -r 0 and an empty -d or
// server name are refused with the usage, where the C tool divides by zero,
// hangs or looks up "". Without -g it addresses the peer's GID, when the
// peer sends one, from source GID index 0 (C: index -1, which fails). A
// peer that sends part of its address message and goes quiet is an error
// after 5 s (C reads the message in one read). Failing to release the
// verbs objects at the end is an error, as in C.
package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-rdma/rdma/internal/getopt"
	"github.com/go-rdma/rdma/verbs"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, errHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "rc-pingpong-go:", err)
		os.Exit(1)
	}
}

// Work request IDs, as in rc_pingpong.c; pending holds those outstanding.
const (
	recvWRID = 1
	sendWRID = 2
)

type config struct {
	port, ibPort, size, rxDepth, iters, sl, gidIndex int
	mtu                                              verbs.MTU
	dev, server                                      string
	events                                           bool
}

// options are ibv_rc_pingpong's that rc-pingpong-go has.
var options = []getopt.Option{
	{Short: 'p', Long: "port", HasArg: true},
	{Short: 'd', Long: "ib-dev", HasArg: true},
	{Short: 'i', Long: "ib-port", HasArg: true},
	{Short: 's', Long: "size", HasArg: true},
	{Short: 'm', Long: "mtu", HasArg: true},
	{Short: 'r', Long: "rx-depth", HasArg: true},
	{Short: 'n', Long: "iters", HasArg: true},
	{Short: 'l', Long: "sl", HasArg: true},
	{Short: 'e', Long: "events"},
	{Short: 'g', Long: "gid-idx", HasArg: true},
	{Short: 'h', Long: "help"},
}

const usage = `Usage:
  rc-pingpong-go            start a server and wait for connection
  rc-pingpong-go <host>     connect to server at <host>

Options:
  -p, --port=<port>      listen on/connect to port <port> (default 18515)
  -d, --ib-dev=<dev>     use IB device <dev> (default first device found)
  -i, --ib-port=<port>   use port <port> of IB device (default 1)
  -s, --size=<size>      size of message to exchange (default 4096)
  -m, --mtu=<size>       path MTU (default 1024)
  -r, --rx-depth=<dep>   number of receives to post at a time (default 500)
  -n, --iters=<iters>    number of exchanges (default 1000)
  -l, --sl=<sl>          service level value
  -e, --events           sleep on CQ events (default poll)
  -g, --gid-idx=<gid index> local port gid index
`

// errHelp asks for the usage text alone.
var errHelp = errors.New("help")

// parseFlags parses args as ibv_rc_pingpong's getopt_long does (see
// internal/getopt); on a bad command line it writes the usage to out.
func parseFlags(args []string, out io.Writer) (*config, error) {
	c, err := parseArgs(args)
	if err != nil {
		fmt.Fprint(out, usage)
	}
	return c, err
}

func parseArgs(args []string) (*config, error) {
	c := &config{port: 18515, ibPort: 1, size: 4096, mtu: verbs.MTU1024, rxDepth: 500, iters: 1000, gidIndex: -1}
	found, operands, err := getopt.Parse(args, options)
	if err != nil {
		return nil, err
	}
	for _, o := range found {
		if o.Short == 'h' {
			return nil, errHelp
		}
		if o.Short == 'e' {
			c.events = true
			continue
		}
		if o.Short == 'd' {
			if o.Arg == "" {
				return nil, errors.New("-d: empty device name")
			}
			c.dev = o.Arg
			continue
		}
		n, err := getopt.Int(o.Arg)
		if err != nil {
			return nil, fmt.Errorf("-%c: %w", o.Short, err)
		}
		switch o.Short {
		case 'p':
			c.port = n
		case 'i':
			c.ibPort = n
		case 's':
			c.size = n
		case 'm':
			var ok bool
			if c.mtu, ok = verbs.MTUFromBytes(n); !ok {
				return nil, fmt.Errorf("-m %d: not an MTU", n)
			}
		case 'r':
			c.rxDepth = n
		case 'n':
			c.iters = n
		case 'l':
			c.sl = n
		case 'g':
			c.gidIndex = n
		}
	}
	switch {
	case len(operands) == 1 && operands[0] == "":
		return nil, errors.New("empty server name")
	case len(operands) == 1:
		c.server = operands[0]
	case len(operands) > 1:
		return nil, fmt.Errorf("one server name at most, got %q", operands)
	}
	if c.port < 0 || c.port > 65535 || c.ibPort < 1 || c.ibPort > 255 || c.size <= 0 || c.rxDepth < 1 || c.iters <= 0 ||
		c.sl < 0 || c.sl > 15 || c.gidIndex > 255 {
		return nil, errors.New("option out of range")
	}
	return c, nil
}

// dest is one side's address, as pp_*_exch_dest exchange it.
type dest struct {
	lid      uint16
	qpn, psn uint32
	gid      verbs.GID
}

// wireSize is sizeof "0000:000000:000000:00000000000000000000000000000000",
// the NUL included: the fixed size of the TCP message.
const wireSize = 52

// marshal formats d as "%04x:%06x:%06x:%s" with the GID as 32 hex digits in
// memory order (gid_to_wire_gid), NUL-padded to wireSize.
func (d dest) marshal() []byte {
	msg := make([]byte, wireSize)
	copy(msg, fmt.Sprintf("%04x:%06x:%06x:%s", d.lid, d.qpn, d.psn, hex.EncodeToString(d.gid[:])))
	return msg
}

func parseDest(msg []byte) (dest, error) {
	s, _, _ := strings.Cut(string(msg), "\x00")
	f := strings.Split(s, ":")
	if len(f) != 4 {
		return dest{}, fmt.Errorf("malformed address %q", s)
	}
	var n [3]uint64
	for i := range n {
		v, err := strconv.ParseUint(f[i], 16, 32)
		if err != nil {
			return dest{}, fmt.Errorf("malformed address %q: %v", s, err)
		}
		n[i] = v
	}
	g, err := hex.DecodeString(f[3])
	if err != nil || len(g) != 16 {
		return dest{}, fmt.Errorf("malformed GID in %q", s)
	}
	d := dest{lid: uint16(n[0]), qpn: uint32(n[1]), psn: uint32(n[2])}
	copy(d.gid[:], g)
	return d, nil
}

func (d dest) String() string {
	return fmt.Sprintf("LID 0x%04x, QPN 0x%06x, PSN 0x%06x, GID %s", d.lid, d.qpn, d.psn, d.gid)
}

// pingpong is pingpong_context: the verbs objects of one side.
type pingpong struct {
	ctx   *verbs.Context
	pd    *verbs.PD
	buf   *verbs.Buffer
	mr    *verbs.MR
	cq    *verbs.CQ
	qp    *verbs.QP
	flags verbs.SendFlags
	recv  []verbs.RecvWR
	send  []verbs.SendWR
}

// close is pp_close_ctx; it returns the first failure.
func (p *pingpong) close() error {
	var first error
	for _, c := range []interface{ Close() error }{p.qp, p.cq, p.mr, p.buf, p.pd, p.ctx} {
		if err := c.Close(); err != nil && first == nil && !errors.Is(err, verbs.ErrClosed) {
			first = err
		}
	}
	return first
}

// open is pp_init_ctx: device, buffer, PD, MR, CQ and a QP in INIT.
func open(c *config) (_ *pingpong, err error) {
	name := c.dev
	if name == "" {
		devs, err := verbs.Devices()
		if err != nil {
			return nil, err
		}
		if len(devs) == 0 {
			return nil, errors.New("no IB devices found")
		}
		name = devs[0].Name
	}
	p := &pingpong{flags: verbs.SendSignaled}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	if p.ctx, err = verbs.Open(name); err != nil {
		return nil, err
	}
	if p.buf, err = verbs.NewBuffer(c.size, nil); err != nil {
		return nil, err
	}
	b := p.buf.Bytes()
	for i := range b {
		b[i] = 0x7b
	}
	if p.pd, err = p.ctx.AllocPD(); err != nil {
		return nil, err
	}
	if p.mr, err = p.pd.RegMR(p.buf, 0, 0, verbs.AccessLocalWrite); err != nil {
		return nil, err
	}
	if p.cq, err = p.ctx.CreateCQ(c.rxDepth+1, nil); err != nil {
		return nil, err
	}
	p.qp, err = p.pd.CreateQP(&verbs.QPInitAttr{Type: verbs.QPTypeRC, SendCQ: p.cq, RecvCQ: p.cq,
		Cap: verbs.QPCap{MaxSendWR: 1, MaxRecvWR: uint32(c.rxDepth), MaxSendSGE: 1, MaxRecvSGE: 1}})
	if err != nil {
		return nil, err
	}
	if int(p.qp.Cap().MaxInlineData) >= c.size {
		p.flags |= verbs.SendInline
	}
	init := verbs.QPAttr{State: int(verbs.QPStateInit), PortNum: uint8(c.ibPort)}
	if err = p.qp.Modify(&init, verbs.QPAttrState|verbs.QPAttrPKeyIndex|verbs.QPAttrPort|verbs.QPAttrAccessFlags); err != nil {
		return nil, err
	}
	sge := []verbs.SGE{p.mr.SGE(0, c.size)}
	p.recv = make([]verbs.RecvWR, c.rxDepth)
	for i := range p.recv {
		p.recv[i] = verbs.RecvWR{ID: recvWRID, SGL: sge}
	}
	p.send = []verbs.SendWR{{ID: sendWRID, Opcode: verbs.WRSend, Flags: p.flags, SGL: sge}}
	return p, nil
}

// connect is pp_connect_ctx: INIT to RTR to RTS against d.
func (p *pingpong) connect(c *config, psn uint32, d dest) error {
	rtr := verbs.QPAttr{State: int(verbs.QPStateRTR), PathMTU: c.mtu, DestQPNum: d.qpn, RQPSN: d.psn,
		MaxDestRdAtomic: 1, MinRNRTimer: 12,
		AHAttr: verbs.AHAttr{DLID: d.lid, SL: uint8(c.sl), PortNum: uint8(c.ibPort)}}
	if !isZero(d.gid[8:]) { // the interface ID
		rtr.AHAttr.IsGlobal = true
		rtr.AHAttr.GRH = verbs.GlobalRoute{HopLimit: 1, DGID: d.gid, SGIDIndex: uint8(max(c.gidIndex, 0))}
	}
	if err := p.qp.Modify(&rtr, verbs.QPAttrState|verbs.QPAttrAV|verbs.QPAttrPathMTU|verbs.QPAttrDestQPN|
		verbs.QPAttrRQPSN|verbs.QPAttrMaxDestRdAtomic|verbs.QPAttrMinRNRTimer); err != nil {
		return fmt.Errorf("failed to modify QP to RTR: %w", err)
	}
	rts := verbs.QPAttr{State: int(verbs.QPStateRTS), Timeout: 14, RetryCnt: 7, RNRRetry: 7, SQPSN: psn, MaxRdAtomic: 1}
	if err := p.qp.Modify(&rts, verbs.QPAttrState|verbs.QPAttrTimeout|verbs.QPAttrRetryCnt|verbs.QPAttrRNRRetry|
		verbs.QPAttrSQPSN|verbs.QPAttrMaxQPRdAtomic); err != nil {
		return fmt.Errorf("failed to modify QP to RTS: %w", err)
	}
	return nil
}

func isZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// clientExchange is pp_client_exch_dest.
func clientExchange(c *config, my dest) (dest, error) {
	conn, err := net.Dial("tcp", net.JoinHostPort(c.server, strconv.Itoa(c.port)))
	if err != nil {
		return dest{}, fmt.Errorf("couldn't connect to %s:%d: %w", c.server, c.port, err)
	}
	defer conn.Close()
	if _, err := conn.Write(my.marshal()); err != nil {
		return dest{}, fmt.Errorf("couldn't send local address: %w", err)
	}
	msg, err := readDest(conn)
	if err != nil {
		return dest{}, err
	}
	if _, err := conn.Write([]byte("done\x00")); err != nil {
		return dest{}, fmt.Errorf("couldn't write done: %w", err)
	}
	return parseDest(msg)
}

// serverExchange is pp_server_exch_dest: it connects the QP before replying,
// so the client's first send finds it ready.
func serverExchange(c *config, p *pingpong, my dest) (dest, error) {
	l, err := net.Listen("tcp", ":"+strconv.Itoa(c.port))
	if err != nil {
		return dest{}, fmt.Errorf("couldn't listen to port %d: %w", c.port, err)
	}
	conn, err := l.Accept()
	l.Close()
	if err != nil {
		return dest{}, fmt.Errorf("accept() failed: %w", err)
	}
	defer conn.Close()
	msg, err := readDest(conn)
	if err != nil {
		return dest{}, err
	}
	rem, err := parseDest(msg)
	if err != nil {
		return dest{}, err
	}
	if err := p.connect(c, my.psn, rem); err != nil {
		return dest{}, fmt.Errorf("couldn't connect to remote QP: %w", err)
	}
	if _, err := conn.Write(my.marshal()); err != nil {
		return dest{}, fmt.Errorf("couldn't send local address: %w", err)
	}
	conn.SetReadDeadline(time.Now().Add(exchangeWait))
	if n, err := io.ReadFull(conn, msg[:len("done\x00")]); err != nil || string(msg[:n]) != "done\x00" {
		if err == nil {
			err = fmt.Errorf("%q instead", msg[:n])
		}
		return dest{}, fmt.Errorf("couldn't read done: %w", err)
	}
	return rem, nil
}

// yieldEvery is how often the polling loop yields to Go's scheduler.
const yieldEvery = 5 * time.Millisecond

// exchangeWait bounds the rest of a message once its first byte came: a
// peer that sends part of one and goes quiet is an error, not a hang (C's
// tool reads a message in one read and fails on a short one).
const exchangeWait = 5 * time.Second

// readDest reads the peer's address message: its first byte whenever it
// comes, the rest within exchangeWait.
func readDest(conn net.Conn) ([]byte, error) {
	msg := make([]byte, wireSize)
	if _, err := io.ReadFull(conn, msg[:1]); err != nil {
		return nil, fmt.Errorf("couldn't read remote address: %w", err)
	}
	conn.SetReadDeadline(time.Now().Add(exchangeWait))
	if _, err := io.ReadFull(conn, msg[1:]); err != nil {
		return nil, fmt.Errorf("couldn't read remote address: %w", err)
	}
	conn.SetReadDeadline(time.Time{})
	return msg, nil
}

// run is the program: args are the command line without the program name.
func run(args []string, stdout io.Writer) (err error) {
	c, err := parseFlags(args, stdout)
	if err != nil {
		return err
	}
	p, err := open(c)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := p.close(); cerr != nil && err == nil {
			err = fmt.Errorf("couldn't release the verbs objects: %w", cerr)
		}
	}()
	if err := p.qp.PostRecv(p.recv); err != nil {
		return fmt.Errorf("couldn't post receives: %w", err)
	}
	routs := c.rxDepth
	port, err := p.ctx.QueryPort(c.ibPort)
	if err != nil {
		return fmt.Errorf("couldn't get port info: %w", err)
	}
	my := dest{lid: port.LID, qpn: p.qp.Num(), psn: rand.Uint32() & 0xffffff}
	if port.LinkLayer != verbs.LinkLayerEthernet && my.lid == 0 {
		return errors.New("couldn't get local LID")
	}
	if c.gidIndex >= 0 {
		if my.gid, err = p.ctx.QueryGID(c.ibPort, c.gidIndex); err != nil {
			return fmt.Errorf("can't read sgid of index %d: %w", c.gidIndex, err)
		}
	}
	fmt.Fprintf(stdout, "  local address:  %v\n", my)
	var rem dest
	if c.server != "" {
		rem, err = clientExchange(c, my)
	} else {
		rem, err = serverExchange(c, p, my)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "  remote address: %v\n", rem)
	if c.server != "" {
		if err := p.connect(c, my.psn, rem); err != nil {
			return err
		}
	}

	pending := recvWRID
	if c.server != "" {
		if err := p.qp.PostSend(p.send); err != nil {
			return fmt.Errorf("couldn't post send: %w", err)
		}
		pending |= sendWRID
	}
	start := time.Now()
	yieldAt := start.Add(yieldEvery)
	wcs := make([]verbs.WorkCompletion, 2)
	for rcnt, scnt := 0, 0; rcnt < c.iters || scnt < c.iters; {
		var n int
		if c.events {
			n, err = p.cq.PollWait(context.Background(), wcs)
		} else {
			// Spins in C as ibv_rc_pingpong's loop does; a loop of calls
			// into C yields to the runtime every few milliseconds, or its
			// monitor thread takes the processor from it (verbs.Yield).
			n, err = p.cq.BusyPoll(context.Background(), wcs)
			if now := time.Now(); now.After(yieldAt) {
				verbs.Yield()
				yieldAt = now.Add(yieldEvery)
			}
		}
		if err != nil {
			return fmt.Errorf("poll CQ failed: %w", err)
		}
		for _, wc := range wcs[:n] {
			if err := wc.Err(); err != nil {
				return fmt.Errorf("failed status %v (%d) for wr_id %d", wc.Status, wc.Status, wc.WRID)
			}
			switch wc.WRID {
			case sendWRID:
				scnt++
			case recvWRID:
				if routs--; routs <= 1 {
					if err := p.qp.PostRecv(p.recv[:c.rxDepth-routs]); err != nil {
						return fmt.Errorf("couldn't post receive: %w", err)
					}
					routs = c.rxDepth
				}
				rcnt++
			default:
				return fmt.Errorf("completion for unknown wr_id %d", wc.WRID)
			}
			pending &^= int(wc.WRID)
			if scnt < c.iters && pending == 0 {
				if err := p.qp.PostSend(p.send); err != nil {
					return fmt.Errorf("couldn't post send: %w", err)
				}
				pending = recvWRID | sendWRID
			}
		}
	}
	usec := float64(time.Since(start).Microseconds())
	bytes := int64(c.size) * int64(c.iters) * 2
	fmt.Fprintf(stdout, "%d bytes in %.2f seconds = %.2f Mbit/sec\n", bytes, usec/1e6, float64(bytes)*8/usec)
	fmt.Fprintf(stdout, "%d iters in %.2f seconds = %.2f usec/iter\n", c.iters, usec/1e6, usec/float64(c.iters))
	return nil
}
