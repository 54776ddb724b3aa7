package rdmacm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-rdma/rdma/cgo"
	"github.com/go-rdma/rdma/internal/rawqp"
	"github.com/go-rdma/rdma/verbs"
)

// ConnParams are what a side offers when it connects or accepts.
type ConnParams struct {
	// InboundReadLimit is the most RDMA reads (and atomics) the peer may
	// have in flight against this side (responder resources).
	InboundReadLimit int
	// OutboundReadLimit is the most RDMA reads this side may have in flight
	// (initiator depth).
	OutboundReadLimit int
	// PrivateData goes to the peer with the request, the accept or (through
	// Reject) the refusal. Its limit is MaxPrivateData.
	PrivateData []byte
	// RawPrivateData sends PrivateData without the length framing, for
	// peers that expect exact bytes (C programs with their own protocol).
	RawPrivateData bool
	// Retry, when not nil, sets the connection's retry counts (IB and
	// RoCE; iWARP runs over TCP and has none, UD has no retries: refused
	// there). nil asks for 7 and 7, as rping and most C programs do.
	Retry *Retry
	// ECE, when not nil, is the Enhanced Connection Establishment options
	// the request or the accept carries (IB CM; iWARP does not carry
	// them), its VendorID not 0. An accept carries the request's vendor ID
	// and these options, as librdmacm's rdma_accept does. librdmacm
	// negotiates ECE itself only for QPs it creates: with a QP of its own
	// on a provider that has ECE (mlx5), take the QP's (verbs.QP.ECE) into
	// the request, give the QP the peer's answer (verbs.QP.SetECE, before
	// CompleteConnect or Accept moves it to RTR), or refuse options the
	// QP cannot take with RejectECE.
	ECE *verbs.ECE
}

// Retry is how the QPs of a reliable connection retry (struct
// rdma_conn_param's retry_count and rnr_retry_count), each 0 to 7.
type Retry struct {
	// Count is how many times the QPs resend a packet the peer did not
	// acknowledge in time before failing the work request with
	// WCRetryExcErr. The request carries the active side's to both QPs:
	// Accept does not use it.
	Count int
	// RNR is how many times the peer's QP resends a message that found no
	// receive posted on this side before failing it with
	// WCRNRRetryExcErr; 7 resends without end. Each side tells the other
	// its own: the request sets the passive QP's, the accept the active
	// QP's.
	RNR int
}

// ConnectionData is NDK's GetConnectionData: the read limits negotiated with
// the peer, as seen from this side, and the private data of the peer's last
// connect, accept or reject.
type ConnectionData struct {
	InboundReadLimit  int
	OutboundReadLimit int
	PrivateData       []byte
	// PeerSRQ says that the peer's QP takes its receives from a shared
	// receive queue (the SRQ flag of IB CM's request and reply; each side
	// sets it for its QP). iWARP carries no such flag: always false there.
	PeerSRQ bool
	// PeerECE is the Enhanced Connection Establishment options of the
	// peer's request (passive side) or accept (active side); zero when it
	// sent none, and on iWARP.
	PeerECE verbs.ECE
}

type state int

const (
	stateIdle       state = iota // active, new
	stateResolved                // active, address and route resolved
	stateConnecting              // active, request sent
	stateResponded               // active on IB/RoCE: the peer accepted, CompleteConnect or Reject next
	stateRequested               // passive: a request waits for Accept or Reject
	stateAccepting               // passive: accept sent
	stateConnected
	stateRejected // refused, by either side
	stateDisconnected
	stateFailed
)

var stateNames = [...]string{"new", "resolved", "connecting", "responded", "requested", "accepting",
	"connected", "rejected", "disconnected", "failed"}

func (s state) String() string { return stateNames[s] }

// Connector is one rdma_cm connection (one cm_id), shaped like NDK's
// NDK_CONNECTOR: on the active side NewConnector, Connect, then
// CompleteConnect or Reject; on the passive side a Listener hands it out,
// then Accept or Reject. The QP is the caller's: the Connector moves it
// through its states as the connection requires.
//
// A Connector is safe for concurrent use. Every method of a closed (or
// zero) Connector that returns an error returns one wrapping ErrClosed;
// the others return zero values (Transport, RawPrivateData and
// MaxPrivateData keep answering what they knew), and Disconnected a closed
// channel.
type Connector struct {
	ch      *channel
	id      cgo.ID
	passive bool
	ud      bool // in the UDP port space (NewUDConnector, ListenUD)

	life sync.RWMutex // held for reading around every use of id; Close takes it for writing
	// addrMu is held by the calls from this side that write the
	// identifier's addresses (rdma_bind_addr, rdma_resolve_addr) and by
	// their readers, which also take ch.mu, under which the channel's
	// reader has librdmacm write them as it takes an event in.
	addrMu sync.Mutex

	mu        sync.Mutex
	closed    bool // by Close; the zero Connector, with no channel, counts as closed too
	state     state
	busy      bool // a call that changes state is under way (claim)
	inAccept  bool // the call under way is Accept
	transport cgo.Transport
	dev       string // the device's name, once the identifier is bound to one
	qp        *verbs.QP
	data      ConnectionData
	wire      []byte        // the peer's private data as received
	aborted   bool          // the peer gave up before we answered (passive) or completed (active)
	hungUp    bool          // Disconnect flushed the QP and called rdma_disconnect
	down      bool          // disconnected, by either side or by the device's removal
	disc      chan struct{} // made by Disconnected; closed once down
	laddr     netip.AddrPort
	offered   [2]int               // the read limits (inbound, outbound) Connect offered
	peer      UDPeer               // UD: the remote QP Connect looked up
	groups    map[netip.Addr]group // UD: the multicast groups joined
	joinSeq   uint64               // UD: the last join's token
	joining   uint64               // UD: the token of the join under way, 0 if none
	joinAddr  netip.Addr           // UD: the group of the join under way

	evMu   sync.Mutex
	events []cgo.CMEvent
	// notify holds a wake-up for the connector's waiting call: an event
	// was queued, the connection went down, or Close was called. A waiter
	// checks what it waits for after every wake-up, and one that returns
	// on a lasting condition (down, closed) passes the wake-up on, so that
	// every waiter sees it.
	notify chan struct{}
}

// NewConnector creates an active-side Connector (rdma_create_id on the
// event channel all active Connectors share).
func NewConnector() (*Connector, error) { return newActive(false) }

// newActive makes an active Connector, for UD if ud.
func newActive(ud bool) (*Connector, error) {
	ch, err := activeChannel()
	if err != nil {
		return nil, &OpError{Op: "rdma_create_event_channel", Err: err}
	}
	c, err := ch.newActive(ud)
	if err != nil {
		ch.release()
		return nil, &OpError{Op: "rdma_create_id", Err: err}
	}
	return c, nil
}

func newConnector(ch *channel, id cgo.ID) *Connector {
	return &Connector{ch: ch, id: id, notify: make(chan struct{}, 1)}
}

// newPassive makes the Connector of a connection request (called by the
// channel's reader with the channel locked).
func newPassive(ch *channel, ev *cgo.CMEvent) *Connector {
	c := newConnector(ch, ev.ID)
	c.passive = true
	c.ud = ev.ID.IsUD()
	c.state = stateRequested
	c.transport = ev.ID.Transport()
	c.record(ev)
	return c
}

// record keeps the peer's read limits and private data from ev.
func (c *Connector) record(ev *cgo.CMEvent) {
	c.wire = append([]byte(nil), ev.PrivateData[:ev.PrivateDataLen]...)
	c.data = ConnectionData{
		InboundReadLimit:  int(ev.ResponderResources),
		OutboundReadLimit: int(ev.InitiatorDepth),
		PrivateData:       decode(c.wire),
		PeerSRQ:           ev.SRQ != 0,
		PeerECE:           ev.ECE,
	}
}

// recordAnswer records the peer's answer to Connect. IB CM reports the
// negotiated limits from this side's view. siw reports this side's own
// offered outbound limit and the peer's outbound one; the peer's inbound
// limit does not reach user space there, so the outbound limit stays the
// offered one.
func (c *Connector) recordAnswer(ev *cgo.CMEvent) {
	c.record(ev)
	if c.transport == cgo.TransportIWARP {
		c.data.InboundReadLimit = min(c.offered[0], int(ev.InitiatorDepth))
		c.data.OutboundReadLimit = c.offered[1]
	}
}

// deliver queues ev for the connector's waiting call.
func (c *Connector) deliver(ev *cgo.CMEvent) {
	switch ev.Event {
	case cgo.CMEventDisconnected, cgo.CMEventDeviceRemoval:
		// The removal of the device ends the connection too.
		c.mu.Lock()
		hungUp, closed := c.hungUp, c.closed
		c.markDown()
		c.mu.Unlock()
		if hungUp || closed {
			// Disconnect, or Close, did both already.
			break
		}
		c.flush()
		if ev.Event == cgo.CMEventDisconnected {
			// Answer the peer's disconnect request (IB CM DREP) now, so
			// that its Disconnect completes whether or not this side
			// calls one.
			c.withID(func(id cgo.ID) error { return id.Disconnect() })
		}
	case cgo.CMEventAddrChange:
		// The bound address moved to another port (a bonding failover):
		// news, not the answer a call waits for.
		return
	case cgo.CMEventMulticastJoin, cgo.CMEventMulticastError:
		if c.staleJoin(ev) {
			return
		}
	case cgo.CMEventRejected, cgo.CMEventConnectError, cgo.CMEventUnreachable, cgo.CMEventTimewaitExit:
		c.mu.Lock()
		gone := false
		switch c.state {
		case stateRequested, stateResponded:
			c.aborted = true
		case stateConnected:
			// The peer's refusal crossed the completion (IB CM puts the
			// connection in time-wait, and no disconnection follows):
			// the connection is down.
			gone = ev.Event != cgo.CMEventTimewaitExit
			if gone {
				c.markDown()
			}
		}
		c.mu.Unlock()
		if gone {
			c.flush()
		}
	}
	c.evMu.Lock()
	c.events = append(c.events, *ev)
	c.evMu.Unlock()
	c.wake()
}

// markDown records, with c.mu held, that the connection is down, and
// closes Disconnected's channel.
func (c *Connector) markDown() {
	if !c.down {
		c.down = true
		if c.disc != nil {
			close(c.disc)
		}
	}
}

// wake leaves a wake-up for the connector's waiting call, unless one is
// already there.
func (c *Connector) wake() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// flush moves the connector's QP to the error state so that its
// outstanding requests complete (with WCWRFlushErr), as librdmacm does for
// QPs it owns.
func (c *Connector) flush() {
	c.mu.Lock()
	qp := c.qp
	c.mu.Unlock()
	if qp == nil {
		return
	}
	// Under qpOwners' lock: a QP the connector let go of since, and
	// another Connector took, is left alone.
	qpOwners.Lock()
	defer qpOwners.Unlock()
	if qpOwners.m[qp] == c {
		qp.Modify(&verbs.QPAttr{State: int(verbs.QPStateErr)}, verbs.QPAttrState)
	}
}

// next waits for the connector's next event.
func (c *Connector) next(ctx context.Context) (cgo.CMEvent, error) {
	for {
		c.evMu.Lock()
		if len(c.events) > 0 {
			ev := c.events[0]
			// Moved down rather than resliced, so that the next event
			// reuses the array instead of allocating one.
			c.events = c.events[:copy(c.events, c.events[1:])]
			c.evMu.Unlock()
			if c.staleJoin(&ev) {
				// Queued for a join given up since.
				continue
			}
			return ev, nil
		}
		c.evMu.Unlock()
		if c.isClosed() {
			c.wake()
			return cgo.CMEvent{}, ErrClosed
		}
		select {
		case <-c.notify:
		case <-ctx.Done():
			return cgo.CMEvent{}, ctx.Err()
		}
	}
}

// testHookAnswered, when set, runs in Connect and Accept between taking
// the peer's answer and recording it: tests close the connector there.
var testHookAnswered atomic.Pointer[func(*Connector)]

// answered runs testHookAnswered, if set.
func answered(c *Connector) {
	if f := testHookAnswered.Load(); f != nil {
		(*f)(c)
	}
}

// await is next for a call whose request to rdma_cm is under way: when ctx
// ends first, the request's event is still to come, and would answer the
// connector's next call instead; the connector is then failed, only good
// for Close.
func (c *Connector) await(ctx context.Context) (cgo.CMEvent, error) {
	ev, err := c.next(ctx)
	if err != nil && ctx.Err() != nil {
		c.setState(stateFailed)
	}
	return ev, err
}

// withID runs f while the identifier is guaranteed to live.
func (c *Connector) withID(f func(cgo.ID) error) error {
	if c == nil {
		return ErrClosed
	}
	c.life.RLock()
	defer c.life.RUnlock()
	if c.isClosed() {
		return ErrClosed
	}
	return f(c.id)
}

// nilContext is the error of a blocking call given a nil context:
// ErrClosed on a closed connector, as for any call, else errNilContext.
func (c *Connector) nilContext() error {
	if c == nil || c.isClosed() {
		return ErrClosed
	}
	return errNilContext
}

func (c *Connector) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed || c.ch == nil
}

// begin checks that the connector is open, on the right side and in one of
// the allowed states, and returns the state.
func (c *Connector) begin(passive bool, allowed ...state) (state, error) {
	if c == nil {
		return 0, ErrClosed
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.check(passive, allowed)
}

// claim is begin for a call that takes the connector to another state
// (Bind, Resolve, Connect, CompleteConnect, Accept, Reject): the connector
// is busy until the call's unclaim, and a second such call meanwhile fails
// with ErrInvalidState instead of going ahead from the same state (Accept
// and Reject of one request, say).
func (c *Connector) claim(passive bool, allowed ...state) (state, error) {
	if c == nil {
		return 0, ErrClosed
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s, err := c.check(passive, allowed)
	if err != nil {
		return 0, err
	}
	if c.busy {
		return 0, fmt.Errorf("connector is %s, with another call under way: %w", c.state, ErrInvalidState)
	}
	c.busy = true
	return s, nil
}

func (c *Connector) unclaim() {
	c.mu.Lock()
	c.busy = false
	c.mu.Unlock()
}

// check is begin's test, with c.mu held.
func (c *Connector) check(passive bool, allowed []state) (state, error) {
	if c.closed || c.ch == nil {
		return 0, ErrClosed
	}
	for _, s := range allowed {
		if c.state == s && c.passive == passive {
			return s, nil
		}
	}
	side := "active"
	if c.passive {
		side = "passive"
	}
	return 0, fmt.Errorf("%s connector is %s: %w", side, c.state, ErrInvalidState)
}

func (c *Connector) setState(s state) {
	c.mu.Lock()
	c.state = s
	c.mu.Unlock()
}

func (c *Connector) opError(op string, err error) error {
	if err == nil {
		return nil
	}
	var addr string
	if c != nil && !c.isClosed() {
		addr = c.PeerAddr().String()
		if addr == "" || addr == "invalid AddrPort" {
			addr = ""
		}
	}
	return &OpError{Op: op, Addr: addr, Err: err}
}

// timeoutMS turns ctx's deadline into librdmacm's resolve timeout.
func timeoutMS(ctx context.Context) int {
	const def = 2000
	d, ok := ctx.Deadline()
	if !ok {
		return def
	}
	return int(min(max(time.Until(d).Milliseconds(), 1), def))
}

// Bind sets the local address (and port, 0 for any) of an active connector
// before Connect, like rping -I. A host name is looked up with the system's
// resolver, without a deadline of its own, as net.Listen does; Resolve and
// Connect look theirs up under their context.
func (c *Connector) Bind(laddr string) error {
	if _, err := c.claim(false, stateIdle); err != nil {
		return c.opError("bind", err)
	}
	defer c.unclaim()
	ap, err := resolve(context.Background(), laddr)
	if err != nil {
		return c.opError("bind", err)
	}
	err = c.withID(func(id cgo.ID) error {
		c.addrMu.Lock()
		defer c.addrMu.Unlock()
		return id.BindAddr(ap)
	})
	if err == nil {
		c.mu.Lock()
		c.laddr = ap
		c.mu.Unlock()
	}
	return c.opError("bind", err)
}

// Resolve resolves raddr ("host:port") to an RDMA device and a route
// (rdma_resolve_addr, rdma_resolve_route). Connect does it when needed;
// calling it first tells (DeviceName) on which device to create the QP.
func (c *Connector) Resolve(ctx context.Context, raddr string) error {
	if ctx == nil {
		return &OpError{Op: "resolve", Addr: raddr, Err: c.nilContext()}
	}
	if _, err := c.claim(false, stateIdle); err != nil {
		return &OpError{Op: "resolve", Addr: raddr, Err: err}
	}
	defer c.unclaim()
	return c.resolveID(ctx, raddr)
}

// resolveID is Resolve for a caller that has claimed the idle connector.
func (c *Connector) resolveID(ctx context.Context, raddr string) error {
	ap, err := resolve(ctx, raddr)
	if err != nil {
		return &OpError{Op: "resolve", Addr: raddr, Err: err}
	}
	// Unmapped: the kernel takes ::ffff:0.0.0.0 for 0.0.0.0, which
	// resolves to this host.
	if !ap.Addr().IsValid() || ap.Addr().Unmap().IsUnspecified() || ap.Port() == 0 {
		return &OpError{Op: "resolve", Addr: raddr, Err: &net.AddrError{Err: "need a host and a non-zero port", Addr: raddr}}
	}
	c.mu.Lock()
	laddr := c.laddr
	c.mu.Unlock()
	steps := []struct {
		start func(cgo.ID) error
		done  int32
	}{
		{func(id cgo.ID) error {
			c.addrMu.Lock()
			defer c.addrMu.Unlock()
			return id.ResolveAddr(laddr, ap, timeoutMS(ctx))
		}, cgo.CMEventAddrResolved},
		{func(id cgo.ID) error { return id.ResolveRoute(timeoutMS(ctx)) }, cgo.CMEventRouteResolved},
	}
	for i, s := range steps {
		err := ctx.Err()
		if err == nil {
			err = c.withID(s.start)
		}
		if err == nil {
			var ev cgo.CMEvent
			if ev, err = c.await(ctx); err == nil && ev.Event != s.done {
				err = eventError(&ev)
			}
		}
		if err != nil {
			if i > 0 {
				// The identifier has its address and is past where a new
				// Resolve starts (a failed or abandoned route leaves it
				// there).
				c.setState(stateFailed)
			}
			return &OpError{Op: "resolve", Addr: raddr, Err: err}
		}
	}
	err = c.withID(func(id cgo.ID) error {
		t := id.Transport()
		c.mu.Lock()
		c.state = stateResolved
		c.transport = t
		c.mu.Unlock()
		return nil
	})
	if err != nil {
		return &OpError{Op: "resolve", Addr: raddr, Err: err}
	}
	return nil
}

// Connect sends a connection request for qp to raddr ("host:port") with
// params (nil: the device's maximum read limits, no private data), and
// waits for the answer. After Resolve the request goes to the resolved
// address and raddr is not used (it may be empty).
//
// On IB and RoCE it returns when the peer accepted, before the connection
// is complete: ConnectionData tells what the peer answered, and
// CompleteConnect or Reject finishes. On iWARP the connection is complete
// when Connect returns and CompleteConnect has nothing left to do.
//
// A refusal returns an error matching ErrConnectionRefused, with a
// *RejectError carrying the reason and the peer's private data.
//
// An RC qp then belongs to the connection until Close: Connect and Accept
// of another Connector refuse it with EINVAL, and Close flushes it (a UD
// QP belongs to no connection: it serves any number of lookups). When
// Connect fails before the request goes out, or the request is refused or
// fails, qp is the caller's again, in INIT with its receives posted (in ERR,
// its receives flushed, when the device went away meanwhile); on IB
// and RoCE it may be connected through another Connector (siw keeps the
// refused connection's endpoint on it). A Connect whose ctx ends keeps qp
// until Close: its request is still under way. A Close while Connect runs
// makes it fail with ErrClosed, and flushes qp if Connect had taken it.
//
// On siw (Linux 6.1), rdma_connect opens the request's TCP connection
// before it returns: to a host that answers ARP but not TCP, Connect
// returns only once TCP gives up (about two minutes), whatever ctx says,
// and a Close meanwhile waits as long.
func (c *Connector) Connect(ctx context.Context, raddr string, qp *verbs.QP, params *ConnParams) error {
	if ctx == nil {
		return &OpError{Op: "connect", Addr: raddr, Err: c.nilContext()}
	}
	st, err := c.claim(false, stateIdle, stateResolved)
	if err != nil {
		return c.opError("connect", err)
	}
	defer c.unclaim()
	if st == stateIdle {
		// What can be checked before anything goes out.
		if qp == nil {
			return c.opError("connect", fmt.Errorf("nil QP: %w", syscall.EINVAL))
		}
		if err := checkParams(params, c.ud); err != nil {
			return c.opError("connect", err)
		}
		if err := c.resolveID(ctx, raddr); err != nil {
			return err
		}
	}
	cp, err := c.prepare(qp, params, MsgConnect)
	if err != nil {
		return c.opError("connect", err)
	}
	if !c.ud {
		// A UD QP serves other peers too: nothing of the connector's
		// ends it, and it is not the connector's.
		c.mu.Lock()
		err := c.holdQP(qp)
		c.mu.Unlock()
		if err != nil {
			return c.opError("connect", err)
		}
	}
	if err := c.initQP(qp); err != nil {
		c.releaseQP()
		return c.opError("connect", err)
	}
	if err := ctx.Err(); err != nil {
		c.releaseQP()
		return c.opError("connect", err)
	}
	c.mu.Lock()
	c.state = stateConnecting
	c.offered = [2]int{int(cp.ResponderResources), int(cp.InitiatorDepth)}
	c.mu.Unlock()
	err = c.withID(func(id cgo.ID) error {
		return id.Connect(&cp)
	})
	if errno, ok := errors.AsType[syscall.Errno](err); ok && (errno == syscall.ECONNREFUSED || errno == syscall.ECONNRESET) {
		// iWARP, where rdma_connect opens the TCP connection and sends the
		// MPA request itself: nobody listens (ECONNREFUSED), or the peer's
		// stack reset the connection before answering (ECONNRESET, seen
		// from a siw listener in a storm of connects over its backlog).
		// Refused before any event.
		c.connectFailed(stateRejected)
		return c.opError("connect", &RejectError{Status: -int(errno)})
	}
	if err != nil {
		c.connectFailed(stateFailed)
		return c.opError("connect", err)
	}
	ev, err := c.await(ctx)
	if err != nil {
		return c.opError("connect", err)
	}
	answered(c)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		// Close came after the answer: it flushed the QP and destroyed
		// the identifier.
		return &OpError{Op: "connect", Addr: raddr, Err: ErrClosed}
	}
	switch ev.Event {
	case cgo.CMEventConnectResponse:
		c.recordAnswer(&ev)
		c.state = stateResponded
		return nil
	case cgo.CMEventEstablished:
		c.recordAnswer(&ev)
		if c.ud {
			c.peer = UDPeer{AHAttr: ev.AHAttr(), QPNum: ev.QPNum, QKey: ev.QKey}
		}
		c.state = stateConnected
		return nil
	case cgo.CMEventRejected:
		c.record(&ev)
		c.state = stateRejected
		c.dropQP()
		return &OpError{Op: "connect", Addr: raddr, Err: &RejectError{Status: int(ev.Status), PrivateData: slices.Clone(c.data.PrivateData)}}
	case cgo.CMEventUnreachable:
		if c.ud && ev.Status > 0 {
			// A SIDR reply with a status other than success: refused.
			c.record(&ev)
			c.state = stateRejected
			return &OpError{Op: "connect", Addr: raddr, Err: &RejectError{Status: int(ev.Status), PrivateData: slices.Clone(c.data.PrivateData), UD: true}}
		}
	}
	c.state = stateFailed
	c.dropQP()
	return &OpError{Op: "connect", Addr: raddr, Err: eventError(&ev)}
}

// connectFailed records that Connect failed before the connection was
// made: the QP, never connected, is the caller's again (it may connect it
// through another Connector), and Close leaves it alone.
func (c *Connector) connectFailed(s state) {
	c.mu.Lock()
	c.state = s
	c.dropQP()
	c.mu.Unlock()
}

// qpOwners maps each QP a Connector holds (from Connect or Accept until the
// connection fails to be made or the Connector closes) to it: a QP carries
// one connection at a time.
var qpOwners = struct {
	sync.Mutex
	m map[*verbs.QP]*Connector
}{m: map[*verbs.QP]*Connector{}}

// errQPHeld is the error of a QP another Connector holds.
var errQPHeld = fmt.Errorf("the QP belongs to another connection: %w", syscall.EINVAL)

// holdQP makes qp the connector's, with c.mu held; errQPHeld when another
// Connector holds it, ErrClosed once Close has begun (its releaseQP may
// have run: the QP would stay held).
func (c *Connector) holdQP(qp *verbs.QP) error {
	if c.closed {
		return ErrClosed
	}
	qpOwners.Lock()
	defer qpOwners.Unlock()
	if o := qpOwners.m[qp]; o != nil && o != c {
		return errQPHeld
	}
	qpOwners.m[qp] = c
	c.qp = qp
	return nil
}

// releaseQP lets go of the connector's QP.
func (c *Connector) releaseQP() {
	c.mu.Lock()
	c.dropQP()
	c.mu.Unlock()
}

// dropQP lets go of the connector's QP, with c.mu held.
func (c *Connector) dropQP() {
	if c.qp == nil {
		return
	}
	qpOwners.Lock()
	if qpOwners.m[c.qp] == c {
		delete(qpOwners.m, c.qp)
	}
	qpOwners.Unlock()
	c.qp = nil
}

// prepare validates qp and params for msg on this connection's device and
// returns what goes to rdma_cm: the private data to send, the read limits
// to offer and the retry counts.
func (c *Connector) prepare(qp *verbs.QP, p *ConnParams, msg Message) (cgo.ConnParam, error) {
	if err := c.checkQP(qp); err != nil {
		return cgo.ConnParam{}, err
	}
	if err := checkParams(p, c.ud); err != nil {
		return cgo.ConnParam{}, err
	}
	var data []byte
	raw := false
	if p != nil {
		data, raw = p.PrivateData, p.RawPrivateData
	}
	if c.ud {
		// No reads and no retries over UD: the private data alone.
		wire, err := encode(c.space(), msg, data, raw)
		return cgo.ConnParam{QPNum: qp.Num(), PrivateData: wire}, err
	}
	attr, err := qp.PD().Context().QueryDevice()
	if err != nil {
		return cgo.ConnParam{}, err
	}
	maxIn, maxOut := min(attr.MaxQPRdAtom, 255), min(attr.MaxQPInitRdAtom, 255)
	in, out := maxIn, maxOut
	retry, rnr := 7, 7
	if p != nil {
		in, out = min(p.InboundReadLimit, maxIn), min(p.OutboundReadLimit, maxOut)
		if r := p.Retry; r != nil {
			retry, rnr = r.Count, r.RNR
		}
	}
	if msg == MsgAccept {
		// Never promise more than the requester can use or serve.
		c.mu.Lock()
		in, out = min(in, c.data.InboundReadLimit), min(out, c.data.OutboundReadLimit)
		c.mu.Unlock()
	}
	wire, err := encode(c.space(), msg, data, raw)
	cp := cgo.ConnParam{QPNum: qp.Num(), ResponderResources: uint8(in), InitiatorDepth: uint8(out),
		RetryCount: uint8(retry), RNRRetryCount: uint8(rnr), SRQ: qp.SRQ() != nil, PrivateData: wire}
	if p != nil && p.ECE != nil {
		cp.ECE = *p.ECE
	}
	return cp, err
}

// checkParams checks what of p needs no device: read limits and retry
// counts in range, and no retry counts for UD.
func checkParams(p *ConnParams, ud bool) error {
	if p == nil {
		return nil
	}
	if p.InboundReadLimit < 0 || p.OutboundReadLimit < 0 {
		return fmt.Errorf("negative read limit: %w", syscall.EINVAL)
	}
	if e := p.ECE; e != nil && (ud || e.VendorID == 0) {
		return fmt.Errorf("ECE with vendor ID %#x (on a UD lookup: %v): %w", e.VendorID, ud, syscall.EINVAL)
	}
	if r := p.Retry; r != nil {
		if ud {
			return fmt.Errorf("retry counts on a UD lookup: %w", syscall.EINVAL)
		}
		if r.Count < 0 || r.Count > 7 || r.RNR < 0 || r.RNR > 7 {
			return fmt.Errorf("retry counts %d and %d outside 0..7: %w", r.Count, r.RNR, syscall.EINVAL)
		}
	}
	return nil
}

// space returns what the connector's private data limits depend on.
func (c *Connector) space() space {
	c.mu.Lock()
	defer c.mu.Unlock()
	return space{transport: c.transport, ud: c.ud}
}

// checkQP tells whether qp can carry this connection: an RC QP (UD for a
// UD connector) on the connection's device.
func (c *Connector) checkQP(qp *verbs.QP) error {
	if qp == nil {
		return fmt.Errorf("nil QP: %w", syscall.EINVAL)
	}
	switch {
	case c.ud && qp.Type() != verbs.QPTypeUD:
		return fmt.Errorf("QP type %v, a UD connector needs UD: %w", qp.Type(), syscall.EINVAL)
	case !c.ud && qp.Type() != verbs.QPTypeRC:
		return fmt.Errorf("QP type %v, rdma_cm connections need RC: %w", qp.Type(), syscall.EINVAL)
	}
	dev, err := c.deviceName()
	if err != nil {
		return err
	}
	if dev == "" {
		return fmt.Errorf("connector has no device yet (Bind to a device's address or Resolve first): %w", ErrInvalidState)
	}
	if name := qp.PD().Context().Name(); name != dev {
		return fmt.Errorf("QP is on %s, the connection goes through %s: %w", name, dev, syscall.EINVAL)
	}
	return nil
}

// ready moves qp through the states first..last with the attributes
// rdma_cm computes for this connection (rdma_init_qp_attr), resp and init
// (when not negative) as the read limits at RTR and RTS, then does then
// (cgo.ReadyAccept with p, cgo.ReadyEstablish): one call into C, as
// librdmacm's rdma_accept and its handling of a connect response make for
// the QPs it creates. op names it in errors.
func (c *Connector) ready(qp *verbs.QP, first, last verbs.QPState, resp, init, then int, p *cgo.ConnParam, op string) error {
	return c.withID(func(id cgo.ID) error {
		raw, err := rawqp.Acquire(qp, op)
		if err != nil {
			return err
		}
		reached, err := id.Ready(raw, int(first), int(last), resp, init, then, p)
		return rawqp.Release(qp, op, reached >= int(verbs.QPStateInit), err)
	})
}

// InitQP moves qp to the INIT state for this connection (rdma_init_qp_attr),
// so that receives can be posted before Connect or Accept: on iWARP a
// message that arrives before its receive is posted breaks the connection,
// and on IB it costs an RNR retry. Call it on the active side after Resolve,
// on the passive side on a request. Connect and Accept do it when needed.
//
// A UD connector moves a UD QP on to RTS, with the Q_Key rdma_cm uses
// (RDMA_UDP_QKEY); it may also be only bound to a device's address (Bind),
// as for JoinMulticast.
func (c *Connector) InitQP(qp *verbs.QP) error {
	allowed := []state{stateResolved, stateRequested}
	if c != nil && c.ud {
		allowed = append(allowed, stateIdle)
	}
	if _, err := c.begin(c != nil && c.passive, allowed...); err != nil {
		return c.opError("init QP", err)
	}
	if err := c.checkQP(qp); err != nil {
		return c.opError("init QP", err)
	}
	return c.opError("init QP", c.initQP(qp))
}

// initQP moves qp from RESET to INIT, and a UD QP on to RTS; a QP already
// past RESET is left alone.
func (c *Connector) initQP(qp *verbs.QP) error {
	out, err := qp.OutOfReset()
	if err != nil || out {
		return err
	}
	if err := c.ready(qp, verbs.QPStateInit, verbs.QPStateInit, -1, -1, cgo.ReadyOnly, nil, "rdma_init_qp_attr"); err != nil || !c.ud {
		return err
	}
	// As librdmacm's ucma_init_ud_qp: RTR and RTS need nothing of the
	// connection, a UD QP's peers are named per request.
	if err := qp.Modify(&verbs.QPAttr{State: int(verbs.QPStateRTR)}, verbs.QPAttrState); err != nil {
		return err
	}
	return qp.Modify(&verbs.QPAttr{State: int(verbs.QPStateRTS)}, verbs.QPAttrState|verbs.QPAttrSQPSN)
}

// CompleteConnect finishes an active connection after Connect returned on
// IB or RoCE (rdma_establish): the QP becomes ready to send and the passive
// side sees the connection established. On iWARP, where Connect already
// completed the connection, it returns nil. When the passive side gave up
// after accepting, it returns ErrConnectionAborted and flushes the QP.
func (c *Connector) CompleteConnect(ctx context.Context) error {
	if ctx == nil {
		return c.opError("complete connect", c.nilContext())
	}
	st, err := c.claim(false, stateResponded, stateConnected)
	if err != nil {
		return c.opError("complete connect", err)
	}
	defer c.unclaim()
	if st == stateConnected {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return c.opError("complete connect", err)
	}
	c.mu.Lock()
	qp, aborted := c.qp, c.aborted
	c.mu.Unlock()
	if aborted {
		// The peer gave up on the connection after accepting it (its
		// Accept ended, or it went away): its refusal came.
		return c.opError("complete connect", c.abandoned(nil))
	}
	// INIT again first, as librdmacm's ucma_modify_qp_rtr does: the IB CM
	// grants remote read access only once the request is sent, so a QP
	// moved to INIT before Connect would refuse the peer's RDMA reads.
	err = c.ready(qp, verbs.QPStateInit, verbs.QPStateRTS, -1, -1, cgo.ReadyEstablish, nil, "rdma_establish")
	// Connected under the same lock as the last look at a refusal: one
	// delivered after it finds the connection established, and marks it
	// down.
	c.mu.Lock()
	aborted, closed := c.aborted, c.closed
	if err == nil && !aborted && !closed {
		c.state = stateConnected
	}
	c.mu.Unlock()
	switch {
	case closed:
		// Close came meanwhile, and flushed the QP.
		return c.opError("complete connect", ErrClosed)
	case aborted || requestGone(err):
		// The refusal came while the QP got ready, or the IB CM had left
		// the state the QP's attributes come from.
		return c.opError("complete connect", c.abandoned(err))
	case err != nil:
		c.setState(stateFailed)
		c.flush()
		return c.opError("complete connect", err)
	}
	return nil
}

// abandoned fails the connector whose peer gave up (cause, if any, is what
// told), flushes its QP and returns ErrConnectionAborted.
func (c *Connector) abandoned(cause error) error {
	c.setState(stateFailed)
	c.flush()
	if cause != nil {
		return fmt.Errorf("%w (%w)", ErrConnectionAborted, cause)
	}
	return ErrConnectionAborted
}

// Accept accepts the connection request with qp and params (nil: the
// largest read limits both sides allow, no private data), and waits until
// the connection is established. The read limits are capped by the device
// and by what the requester offered. A request whose peer has given up
// gives ErrConnectionAborted, as Reject does, also when it gives up after
// the accept went out (the QP is then flushed).
//
// An RC qp belongs to the connection from the accept on until Close (a
// refused or abandoned accept's QP too, flushed); a QP that could not be
// made ready is the caller's again, and the request, unless its peer gave
// up, is still there to accept or reject.
func (c *Connector) Accept(ctx context.Context, qp *verbs.QP, params *ConnParams) error {
	if ctx == nil {
		return c.opError("accept", c.nilContext())
	}
	if _, err := c.claim(true, stateRequested); err != nil {
		return c.opError("accept", err)
	}
	c.setInAccept(true)
	defer c.unclaim()
	defer c.setInAccept(false)
	cp, err := c.prepare(qp, params, MsgAccept)
	if err != nil {
		return c.opError("accept", err)
	}
	c.mu.Lock()
	aborted := c.aborted
	c.mu.Unlock()
	if aborted {
		return c.opError("accept", ErrConnectionAborted)
	}
	if err := ctx.Err(); err != nil {
		return c.opError("accept", err)
	}
	if c.ud {
		return c.opError("accept", c.acceptUD(qp, &cp))
	}
	out, err := qp.OutOfReset()
	if err != nil {
		return c.opError("accept", err)
	}
	first := verbs.QPStateRTR
	if !out {
		first = verbs.QPStateInit
	}
	// Known before rdma_accept, so that a disconnection right after the
	// establishment flushes the QP.
	c.mu.Lock()
	err = c.holdQP(qp)
	c.mu.Unlock()
	if err != nil {
		return c.opError("accept", err)
	}
	err = c.ready(qp, first, verbs.QPStateRTS, int(cp.ResponderResources), int(cp.InitiatorDepth), cgo.ReadyAccept, &cp, "rdma_accept")
	if c.isClosed() {
		// Close came meanwhile, and flushed the QP.
		return c.opError("accept", ErrClosed)
	}
	switch {
	case err == nil:
	case requestGone(err):
		c.setState(stateFailed)
		if cmCallFailed(err) {
			// rdma_accept refused after the QP got ready: it holds the
			// connection's receives.
			c.flush()
		} else {
			// The QP did not get ready: the caller's again.
			c.releaseQP()
		}
		return c.opError("accept", fmt.Errorf("%w (%w)", ErrConnectionAborted, err))
	case cmCallFailed(err):
		// rdma_accept itself failed.
		c.setState(stateFailed)
		c.flush()
		return c.opError("accept", err)
	default:
		// The QP did not get ready: the request is still there to reject.
		c.releaseQP()
		return c.opError("accept", err)
	}
	c.mu.Lock()
	c.state = stateAccepting
	c.data.InboundReadLimit, c.data.OutboundReadLimit = int(cp.ResponderResources), int(cp.InitiatorDepth)
	c.mu.Unlock()
	ev, err := c.await(ctx)
	if err != nil {
		return c.opError("accept", err)
	}
	answered(c)
	if err := c.accepted(&ev); err != nil {
		// The QP, ready, holds the receives posted for the connection.
		c.flush()
		return err
	}
	return nil
}

// Notify tells rdma_cm that the accepted connection's QP has received its
// first message (rdma_notify with IBV_EVENT_COMM_EST), which proves the
// requester done: on IB and RoCE an Accept still waiting for the
// requester's ready-to-use message (lost, or sent late, as after a
// CompleteConnect that waits) then returns, the connection established.
// Call it on the QP's verbs.EventCommEst, from verbs.Context.Events, as C
// consumers do; the RTU that comes after changes nothing. It is legal on
// the passive side once Accept has sent the accept, while Accept waits
// (ErrInvalidState before), and once connected (a no-op then, and on
// iWARP, whose connection is complete when the accept goes out).
func (c *Connector) Notify() error {
	s, err := c.begin(true, stateAccepting, stateConnected, stateRequested)
	if err == nil && s == stateRequested {
		c.mu.Lock()
		inAccept := c.inAccept
		c.mu.Unlock()
		if !inAccept {
			err = fmt.Errorf("passive connector is %s, with no accept under way: %w", s, ErrInvalidState)
		}
	}
	if err != nil || s == stateConnected {
		return c.opError("rdma_notify", err)
	}
	// In Accept, the accept may have gone out before the connector
	// records it (a first message can come in between); before, the IB
	// CM refuses (EINVAL).
	err = c.withID(func(id cgo.ID) error { return id.NotifyEstablished() })
	switch {
	case err == nil:
	case errors.Is(err, syscall.EISCONN):
		// The connection was established meanwhile: the requester's
		// message came first.
		err = nil
	default:
		if st, e := c.begin(true, stateConnected, stateRequested); e == nil && st == stateConnected {
			err = nil
		} else if e == nil && errors.Is(err, syscall.EINVAL) {
			err = fmt.Errorf("the accept has not gone out yet: %w", ErrInvalidState)
		}
	}
	return c.opError("rdma_notify", err)
}

// setInAccept records whether Accept is under way.
func (c *Connector) setInAccept(in bool) {
	c.mu.Lock()
	c.inAccept = in
	c.mu.Unlock()
}

// accepted records the answer ev to the connector's accept.
func (c *Connector) accepted(ev *cgo.CMEvent) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		// Close came after the answer, and flushed the QP.
		return &OpError{Op: "accept", Err: ErrClosed}
	}
	switch ev.Event {
	case cgo.CMEventEstablished:
		c.state = stateConnected
		return nil
	case cgo.CMEventRejected:
		c.record(ev)
		re := &RejectError{Status: int(ev.Status), PrivateData: slices.Clone(c.data.PrivateData)}
		if re.ConsumerReject() && c.transport != cgo.TransportIWARP && !unanswered(c.wire) {
			// The requester refused the accept (its Reject after
			// Connect returned, on IB and RoCE).
			c.state = stateRejected
			return &OpError{Op: "accept", Err: re}
		}
		// The requester's identifier went away after the accept came
		// (IB CM refuses for it: reason 28 with no private data, no
		// frame) or before (reason 4, timeout): not a refusal.
	}
	// The requester gave up after the accept was sent (also a closed TCP
	// connection on iWARP) or never answered it.
	c.state = stateFailed
	return &OpError{Op: "accept", Err: fmt.Errorf("%w (%w)", ErrConnectionAborted, eventError(ev))}
}

// requestGone tells whether err, from Accept's Ready, says that the kernel
// no longer has the connection the request belonged to (its peer gave up):
// rdma_accept failing with EINVAL or ECONNRESET (siw), or rdma_init_qp_attr
// with EINVAL (IB CM, whose identifier has left the request's state).
func requestGone(err error) bool {
	var re *cgo.ReadyError
	if !errors.As(err, &re) {
		return false
	}
	switch {
	case re.State == 0:
		return errors.Is(re.Err, syscall.EINVAL) || errors.Is(re.Err, syscall.ECONNRESET)
	case re.Call == "rdma_init_qp_attr":
		return errors.Is(re.Err, syscall.EINVAL)
	}
	return false
}

// cmCallFailed tells whether err is Ready's rdma_cm call failing, the QP's
// transitions having succeeded. (A function of its own, so that the
// target of errors.As is allocated only on this error path.)
func cmCallFailed(err error) bool {
	var re *cgo.ReadyError
	return errors.As(err, &re) && re.State == 0
}

// Reject refuses the connection with privateData (rdma_reject): on the
// passive side a pending request; on the active side (IB and RoCE) a
// connection whose Connect returned but that was not completed, e.g.
// because ConnectionData did not suit. The peer gets exactly privateData
// (framed unless raw is true). On the active side of iWARP, which has no
// such phase, it returns ErrUnsupported.
//
// When the connecting peer had already given up, Reject returns
// ErrConnectionAborted (NDK STATUS_CONNECTION_ABORTED).
func (c *Connector) Reject(privateData []byte) error { return c.reject(privateData, false, false) }

// RejectRaw is Reject without the length framing: the peer gets exactly
// privateData on iWARP, privateData padded with zeros on IB and RoCE.
func (c *Connector) RejectRaw(privateData []byte) error { return c.reject(privateData, true, false) }

// RejectECE is Reject with IB CM's reason "vendor option not supported"
// (35, rdma_reject_ece) instead of "consumer reject" (28): the peer's ECE
// options (ConnectionData.PeerECE) do not suit. iWARP has no reasons: the
// peer sees a refusal as with Reject.
func (c *Connector) RejectECE(privateData []byte) error { return c.reject(privateData, false, true) }

func (c *Connector) reject(privateData []byte, raw, ece bool) error {
	if c == nil {
		return c.opError("reject", ErrClosed)
	}
	passive := c.passive
	st, err := c.claim(passive, stateRequested, stateResponded, stateConnected)
	if err != nil {
		return c.opError("reject", err)
	}
	defer c.unclaim()
	c.mu.Lock()
	transport, aborted := c.transport, c.aborted
	c.mu.Unlock()
	if st == stateConnected {
		if transport == cgo.TransportIWARP && !passive {
			return c.opError("reject", fmt.Errorf("iWARP completes the connection in Connect, disconnect instead: %w", ErrUnsupported))
		}
		return c.opError("reject", fmt.Errorf("connector is connected: %w", ErrInvalidState))
	}
	wire, err := encode(space{transport: transport, ud: c.ud}, MsgReject, privateData, raw)
	if err != nil {
		return c.opError("reject", err)
	}
	if aborted {
		// Its receives back to the caller (the passive side holds no QP
		// yet: nothing to flush).
		c.flush()
		return c.opError("reject", ErrConnectionAborted)
	}
	err = c.withID(func(id cgo.ID) error { return id.Reject(wire, ece) })
	switch {
	case errors.Is(err, syscall.EINVAL), errors.Is(err, syscall.ECONNRESET):
		// The length is valid (checked above): the kernel no longer has
		// the connection the request belonged to.
		err = fmt.Errorf("%w (%w)", ErrConnectionAborted, err)
		c.flush()
	case err == nil:
		c.flush()
	default:
		// Refused for another reason: the request is still there.
		return c.opError("reject", err)
	}
	c.setState(stateRejected)
	return c.opError("reject", err)
}

// ConnectionData returns the read limits negotiated with the peer and the
// peer's private data (from its request, accept or reject).
func (c *Connector) ConnectionData() (ConnectionData, error) {
	if c == nil || c.isClosed() {
		return ConnectionData{}, c.opError("connection data", ErrClosed)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.data
	d.PrivateData = append([]byte(nil), d.PrivateData...)
	return d, nil
}

// RawPrivateData returns the peer's private data exactly as it arrived,
// padding and framing included.
func (c *Connector) RawPrivateData() []byte {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.wire...)
}

// Disconnect ends an established connection (rdma_disconnect) and waits
// until the disconnection is complete. The QP moves to the error state, so
// outstanding work requests complete with WCWRFlushErr.
func (c *Connector) Disconnect(ctx context.Context) error {
	if ctx == nil {
		return c.opError("disconnect", c.nilContext())
	}
	_, err := c.begin(c != nil && c.passive, stateConnected, stateDisconnected)
	if c != nil && c.ud && !errors.Is(err, ErrClosed) {
		return c.opError("disconnect", fmt.Errorf("UD has no connection to end, Close the connector: %w", ErrUnsupported))
	}
	if err != nil {
		return c.opError("disconnect", err)
	}
	c.flush()
	c.mu.Lock()
	wasDown := c.down
	c.mu.Unlock()
	// Down already (the peer, a refusal, the device's removal, after which
	// the kernel refuses rdma_disconnect): nothing left to end.
	if err := c.withID(func(id cgo.ID) error { return id.Disconnect() }); err != nil && !errors.Is(err, syscall.EINVAL) && !wasDown {
		return c.opError("disconnect", err)
	}
	c.mu.Lock()
	c.hungUp = true
	c.mu.Unlock()
	for {
		c.mu.Lock()
		down, closed := c.down, c.closed
		c.mu.Unlock()
		if down || closed {
			c.wake()
		}
		if closed {
			return c.opError("disconnect", ErrClosed)
		}
		if down {
			break
		}
		select {
		case <-c.notify:
		case <-ctx.Done():
			return c.opError("disconnect", ctx.Err())
		}
	}
	c.setState(stateDisconnected)
	return nil
}

// Disconnected returns a channel closed once the connection is
// disconnected: by the peer, by Disconnect, by the removal of its device
// (NDK NotifyDisconnect), or by Close.
func (c *Connector) Disconnected() <-chan struct{} {
	if c == nil || c.ch == nil {
		closed := make(chan struct{})
		close(closed)
		return closed
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.disc == nil {
		c.disc = make(chan struct{})
		if c.down {
			close(c.disc)
		}
	}
	return c.disc
}

// LocalAddr returns the local address, once bound, resolved or accepted. An
// IPv6 link-local address carries its zone, the interface, except on IB,
// which has none.
func (c *Connector) LocalAddr() net.Addr { return &Addr{c.address(cgo.ID.LocalAddr)} }

// PeerAddr returns the peer's address, once resolved or requested; its
// zone as for LocalAddr.
func (c *Connector) PeerAddr() net.Addr { return &Addr{c.address(cgo.ID.PeerAddr)} }

// address reads one of the identifier's addresses with get, while nothing
// writes them (addrMu).
func (c *Connector) address(get func(cgo.ID) netip.AddrPort) netip.AddrPort {
	var ap netip.AddrPort
	c.withID(func(id cgo.ID) error {
		c.addrMu.Lock()
		defer c.addrMu.Unlock()
		c.ch.mu.Lock()
		defer c.ch.mu.Unlock()
		ap = get(id)
		return nil
	})
	return ap
}

// DeviceName returns the RDMA device the connection uses, once resolved or
// requested: create the QP's PD and CQs on it (verbs.Open(DeviceName())).
func (c *Connector) DeviceName() string {
	dev, _ := c.deviceName()
	return dev
}

// deviceName returns the connection's device name, asking librdmacm until
// the identifier is bound to a device, which it then keeps.
func (c *Connector) deviceName() (string, error) {
	var dev string
	err := c.withID(func(id cgo.ID) error {
		c.mu.Lock()
		dev = c.dev
		c.mu.Unlock()
		if dev == "" {
			dev = id.DeviceName()
			c.mu.Lock()
			c.dev = dev
			c.mu.Unlock()
		}
		return nil
	})
	return dev, err
}

// Transport returns the transport of the connection's device: IB for
// InfiniBand and RoCE, iWARP.
func (c *Connector) Transport() verbs.Transport {
	if c == nil {
		return verbs.TransportUnknown
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.transport
}

// MaxPrivateData returns the most private data msg can carry on this
// connection (after framing unless raw), once resolved or requested.
func (c *Connector) MaxPrivateData(msg Message, raw bool) int {
	if c == nil {
		return MaxPrivateData(verbs.TransportUnknown, msg, raw)
	}
	return c.space().max(msg, raw)
}

// Close destroys the connection's identifier (rdma_destroy_id), ending the
// connection if it is up: its QP moves to the error state, as for
// Disconnect, and Disconnected's channel closes. Calls blocked on the
// connector return ErrClosed. The QP stays the caller's to close.
func (c *Connector) Close() error {
	if c == nil {
		return c.opError("close", ErrClosed)
	}
	c.mu.Lock()
	if c.closed || c.ch == nil {
		c.mu.Unlock()
		return c.opError("close", ErrClosed)
	}
	c.closed = true
	hungUp, groups, joining := c.hungUp, c.groups, c.joinAddr
	c.groups = nil
	c.markDown()
	c.mu.Unlock()
	if !hungUp {
		c.flush()
	}
	// Only now the QP is free for another connection.
	c.releaseQP()
	for _, g := range groups {
		g.qp.DetachMulticast(g.gid, g.lid)
	}
	c.wake()
	c.life.Lock()
	for addr := range groups {
		// rdma_destroy_id leaves them in the kernel but not in librdmacm,
		// which would keep their records.
		c.id.LeaveMulticast(netip.AddrPortFrom(addr, 0))
	}
	if joining.IsValid() {
		// A join under way, whose JoinMulticast can no longer leave it.
		c.id.LeaveMulticast(netip.AddrPortFrom(joining, 0))
	}
	err := c.ch.destroy(c.id)
	c.life.Unlock()
	// The last release closes the channel's file, which waits for its
	// reader; the reader may be in deliver, waiting for c.life.
	c.ch.release()
	return c.opError("close", err)
}

// refuse rejects a request nobody will take and destroys its connector.
func (c *Connector) refuse() {
	c.withID(rejectEmpty)
	c.Close()
}

// rejectEmpty rejects the request of id with empty, framed private data.
func rejectEmpty(id cgo.ID) error {
	wire, _ := encode(space{transport: id.Transport(), ud: id.IsUD()}, MsgReject, nil, false)
	return id.Reject(wire, false)
}
