package rdmacm

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"

	"github.com/go-rdma/rdma/cgo"
)

// Listener listens for connection requests on an address, like NDK's
// NDK_LISTENER: GetConnectionRequest (or Requests) hands out each request
// as a passive Connector to Accept or Reject. Safe for concurrent use.
type Listener struct {
	ch      *channel
	ud      bool // in the UDP port space (ListenUD)
	backlog int
	addr    netip.AddrPort // bound address, with the port picked when 0 was asked

	mu       sync.Mutex
	id       cgo.ID // zero while paused
	gen      uint64 // counts the listens (listen): which one id is
	closed   bool
	requests chan *Connector
	closing  chan struct{}
	removed  chan struct{} // closed when the device goes (DEVICE_REMOVAL)
	removal  error         // the removal event, once removed is closed
}

// MaxBacklog is the largest backlog Listen keeps; a larger one is taken
// as MaxBacklog, as listen(2) caps its backlog.
const MaxBacklog = 1 << 16

// Listen binds address ("host:port"; port 0 picks one, an empty host all
// IPv4 addresses, "[::]" the IPv6 ones) and listens with room for backlog requests (at most
// MaxBacklog) that nobody has taken yet; further requests are refused until
// some are taken. A host name is looked up with the system's resolver,
// without a deadline of its own, as net.Listen does.
func Listen(address string, backlog int) (*Listener, error) { return listen(address, backlog, false) }

// listen is Listen, in the UDP port space if ud.
func listen(address string, backlog int, ud bool) (*Listener, error) {
	if backlog <= 0 {
		return nil, &OpError{Op: "listen", Addr: address, Err: fmt.Errorf("backlog %d: %w", backlog, syscall.EINVAL)}
	}
	backlog = min(backlog, MaxBacklog)
	ap, err := resolve(context.Background(), address)
	if err != nil {
		return nil, &OpError{Op: "listen", Addr: address, Err: err}
	}
	ch, err := newChannel()
	if err != nil {
		return nil, &OpError{Op: "listen", Addr: address, Err: err}
	}
	ch.hold()
	l := &Listener{ch: ch, ud: ud, backlog: backlog, addr: ap, requests: make(chan *Connector, backlog), closing: make(chan struct{}),
		removed: make(chan struct{})}
	l.mu.Lock()
	err = l.listen()
	l.mu.Unlock()
	if err != nil {
		ch.release()
		return nil, &OpError{Op: "listen", Addr: address, Err: err}
	}
	return l, nil
}

// listen creates, binds and starts a listening identifier on l.addr and
// makes it l.id. The caller holds l.mu: the channel's reader may hand the
// first request to enqueue the moment the identifier listens, and enqueue
// then waits for l.id instead of refusing the request. (destroyID forgets
// the registration when listening fails.)
func (l *Listener) listen() error {
	id, err := l.ch.createID(l.ud)
	if err != nil {
		return err
	}
	if err := id.BindAddr(l.addr); err != nil {
		l.ch.destroyID(id)
		return err
	}
	// Registered before it listens: a request the reader takes in at once
	// finds the listener and waits in enqueue for l.mu, held by the caller.
	l.gen++
	l.ch.registerListener(id, l, l.gen)
	// The kernel's backlog only bounds the requests its channel holds
	// unread, and requests over it are dropped without an answer (IB CM
	// retries them seconds later). The reader takes every request at once
	// and refuses those over l.backlog, so the kernel gets its maximum
	// (0 asks for net.rdma_ucm.max_backlog, 1024 by default).
	if err := id.Listen(0); err != nil {
		l.ch.destroyID(id)
		return err
	}
	l.addr = id.LocalAddr()
	l.id = id
	return nil
}

// enqueue offers a new request to the listener; false when it cannot take it.
func (l *Listener) enqueue(c *Connector) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.id.IsZero() {
		return false
	}
	select {
	case l.requests <- c:
		return true
	default:
		return false
	}
}

// Addr returns the address the listener is bound to.
func (l *Listener) Addr() net.Addr {
	if l == nil {
		return &Addr{}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return &Addr{l.addr}
}

// DeviceName returns the RDMA device the listener is bound to, when its
// address belongs to one; empty when it listens on all addresses or is
// paused or closed. A server can open the device before the first request.
func (l *Listener) DeviceName() string {
	if l == nil {
		return ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.id.IsZero() {
		return ""
	}
	return l.id.DeviceName()
}

// GetConnectionRequest waits for the next connection request. Once the
// listener's device is removed it returns the removal (an *EventError of
// RDMA_CM_EVENT_DEVICE_REMOVAL) after the requests queued before it: the
// listener no longer listens, and Resume listens again, on another device
// that has the address or on the same one re-created.
func (l *Listener) GetConnectionRequest(ctx context.Context) (*Connector, error) {
	const op = "get connection request"
	if ctx == nil {
		return nil, &OpError{Op: op, Err: l.nilContext()}
	}
	if l == nil || l.ch == nil {
		return nil, &OpError{Op: op, Err: ErrClosed}
	}
	select {
	case <-l.closing:
		return nil, &OpError{Op: op, Addr: l.Addr().String(), Err: ErrClosed}
	case c := <-l.requests:
		return c, nil
	default:
	}
	l.mu.Lock()
	removed := l.removed
	l.mu.Unlock()
	select {
	case c := <-l.requests:
		return c, nil
	case <-ctx.Done():
		return nil, &OpError{Op: op, Addr: l.Addr().String(), Err: ctx.Err()}
	case <-l.closing:
		return nil, &OpError{Op: op, Addr: l.Addr().String(), Err: ErrClosed}
	case <-removed:
		select {
		case c := <-l.requests:
			// Queued before the removal.
			return c, nil
		default:
		}
		l.mu.Lock()
		err := l.removal
		l.mu.Unlock()
		if err == nil {
			// Resumed since.
			return l.GetConnectionRequest(ctx)
		}
		return nil, &OpError{Op: op, Addr: l.Addr().String(), Err: err}
	}
}

// deviceRemoved is the reader's report of the DEVICE_REMOVAL of listen
// gen's identifier: the identifier is destroyed (its events are acked as
// they are read, so rdma_destroy_id does not wait for the reader) and the
// waiting calls are told.
func (l *Listener) deviceRemoved(ev *cgo.CMEvent, gen uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gone() || l.id != ev.ID || l.gen != gen {
		// Paused (and maybe resumed) or closed since.
		return
	}
	l.id = cgo.ID{}
	// Not the channel's last user (the open Listener holds it): the
	// release does not wait for this reader.
	l.ch.destroyID(ev.ID)
	l.removal = eventError(ev)
	close(l.removed)
}

// Requests returns the channel requests arrive on: the same requests
// GetConnectionRequest returns, for use in select statements. It is never
// closed; after Close it delivers nothing, and it does not report the
// device's removal (GetConnectionRequest does).
func (l *Listener) Requests() <-chan *Connector {
	if l == nil {
		return nil
	}
	return l.requests
}

// Pause stops delivery of requests (NDK ControlConnectEvents): the listener
// stops listening, so that a connecting peer meets what it meets when
// nobody listens (refused). Requests already queued stay. Resume listens
// again on the same address and port.
func (l *Listener) Pause() error {
	if l == nil {
		return &OpError{Op: "pause", Err: ErrClosed}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gone() {
		return &OpError{Op: "pause", Addr: l.addr.String(), Err: ErrClosed}
	}
	if l.id.IsZero() {
		return nil
	}
	id := l.id
	l.id = cgo.ID{}
	return opErr("pause", l.addr, l.ch.destroyID(id))
}

// Resume undoes Pause.
func (l *Listener) Resume() error {
	if l == nil {
		return &OpError{Op: "resume", Err: ErrClosed}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gone() {
		return &OpError{Op: "resume", Addr: l.addr.String(), Err: ErrClosed}
	}
	if !l.id.IsZero() {
		return nil
	}
	if err := l.listen(); err != nil {
		return opErr("resume", l.addr, err)
	}
	if l.removal != nil {
		l.removal = nil
		l.removed = make(chan struct{})
	}
	return nil
}

// nilContext is the error of a blocking call given a nil context:
// ErrClosed on a closed listener, as for any call, else errNilContext.
func (l *Listener) nilContext() error {
	if l.isClosed() {
		return ErrClosed
	}
	return errNilContext
}

// isClosed reports whether l is closed (or nil, or the zero Listener).
func (l *Listener) isClosed() bool {
	if l == nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.gone()
}

// gone reports, with l.mu held, whether l is closed or the zero Listener.
func (l *Listener) gone() bool { return l.closed || l.ch == nil }

func opErr(op string, ap netip.AddrPort, err error) error {
	if err == nil {
		return nil
	}
	return &OpError{Op: op, Addr: addrString(ap), Err: err}
}

// Close stops listening and refuses the requests nobody took. Connectors
// already handed out stay open.
func (l *Listener) Close() error {
	if l == nil {
		return &OpError{Op: "close", Err: ErrClosed}
	}
	l.mu.Lock()
	if l.gone() {
		l.mu.Unlock()
		return &OpError{Op: "close", Addr: l.addr.String(), Err: ErrClosed}
	}
	l.closed = true
	close(l.closing)
	id := l.id
	l.id = cgo.ID{}
	l.mu.Unlock()
	// Refuse what is queued before the last identifier can take the
	// channel down with it.
	for {
		select {
		case c := <-l.requests:
			c.refuse()
			continue
		default:
		}
		break
	}
	var err error
	if !id.IsZero() {
		err = l.ch.destroyID(id)
	}
	l.ch.release()
	return opErr("close", l.addr, err)
}
