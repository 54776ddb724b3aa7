package rdmacm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/go-rdma/rdma/cgo"
	"github.com/go-rdma/rdma/verbs"
)

// NewUDConnector creates an active-side Connector for unreliable datagrams
// (rdma_create_id with RDMA_PS_UDP), as rdma-core's udaddy and mckey use:
//
//   - Connect with a UD QP looks up the QP a ListenUD peer answers with (IB
//     CM SIDR): UDPeer then gives its address, QP number and Q_Key, to
//     send it datagrams. There is no connection: Disconnect is
//     ErrUnsupported, and the peer learns this side's QP from the
//     datagrams it receives (verbs.PD.CreateAHFromWC).
//   - JoinMulticast (after Bind) joins a multicast group and attaches a UD
//     QP to it.
//
// Private data is limited as IB CM's SIDR messages are (MaxPrivateData).
// iWARP has neither UD nor multicast: an iWARP device makes no UD QP
// (EOPNOTSUPP).
func NewUDConnector() (*Connector, error) { return newActive(true) }

// ListenUD listens, as Listen does, for the UD lookups of NewUDConnector's
// Connect. Accept of such a request answers it with a UD QP at once (a QP
// may answer any number of them) and Reject refuses it.
func ListenUD(address string, backlog int) (*Listener, error) { return listen(address, backlog, true) }

// UDPeer is where datagrams for a UD peer or multicast group go: make the
// address handle from AHAttr (verbs.PD.CreateAH) and send with RemoteQPN
// QPNum and RemoteQKey QKey.
type UDPeer struct {
	AHAttr verbs.AHAttr
	QPNum  uint32
	QKey   uint32
}

// MulticastQPN is the QP number datagrams to a multicast group are sent to.
const MulticastQPN = 0xFFFFFF

// UDPeer returns the remote QP a UD connector's Connect looked up.
func (c *Connector) UDPeer() (UDPeer, error) {
	if _, err := c.begin(false, stateConnected); err != nil {
		return UDPeer{}, c.opError("UD peer", err)
	}
	if !c.ud {
		return UDPeer{}, c.opError("UD peer", fmt.Errorf("not a UD connector: %w", ErrInvalidState))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peer, nil
}

// acceptUD answers a UD lookup with qp (moved to RTS first if new): the
// SIDR reply carries its number and rdma_cm's Q_Key. No event follows.
func (c *Connector) acceptUD(qp *verbs.QP, cp *cgo.ConnParam) error {
	if err := c.initQP(qp); err != nil {
		return err
	}
	err := c.withID(func(id cgo.ID) error { return id.Accept(cp) })
	if err != nil {
		c.setState(stateFailed)
		return err
	}
	c.setState(stateConnected)
	return nil
}

// group is a multicast group a UD connector joined, with the QP attached.
type group struct {
	qp  *verbs.QP
	gid verbs.GID
	lid uint16
}

// JoinMulticast joins the multicast group at address (an IP multicast
// address; a port is ignored) on the device the connector is bound to
// (Bind: rdma_cm joins from an identifier bound to an address, not from a
// resolved route), attaches qp, a UD QP of that device (moved to RTS first
// if new), and returns where datagrams for the group go (QPNum is
// MulticastQPN). qp then receives the group's datagrams, its own included;
// each starts with the 40-byte GRH, as every UD receive does.
// LeaveMulticast or Close undoes it. IPv4 groups only on RoCE v2: Linux
// 6.1 joins IPv6 ones there not at all (errno 524, its internal ENOTSUPP).
// A join whose ctx ends is given up and
// the group left. A later failure of a joined group (a MULTICAST_ERROR
// after a port event) is not reported: join again.
func (c *Connector) JoinMulticast(ctx context.Context, address string, qp *verbs.QP) (UDPeer, error) {
	op := "join multicast"
	if ctx == nil {
		return UDPeer{}, &OpError{Op: op, Addr: address, Err: c.nilContext()}
	}
	if _, err := c.claim(false, stateIdle); err != nil {
		return UDPeer{}, c.opError(op, err)
	}
	defer c.unclaim()
	fail := func(err error) (UDPeer, error) { return UDPeer{}, &OpError{Op: op, Addr: address, Err: err} }
	if !c.ud {
		return fail(fmt.Errorf("not a UD connector: %w", ErrInvalidState))
	}
	addr, err := groupAddr(address)
	if err != nil {
		return fail(err)
	}
	if err := c.checkQP(qp); err != nil {
		return fail(err)
	}
	ap := netip.AddrPortFrom(addr, 0)
	c.mu.Lock()
	_, joined := c.groups[addr]
	c.joinSeq++
	token := c.joinSeq
	c.mu.Unlock()
	if joined {
		return fail(fmt.Errorf("group joined already: %w", syscall.EADDRINUSE))
	}
	if err := c.initQP(qp); err != nil {
		return fail(err)
	}
	leave := func() { c.withID(func(id cgo.ID) error { return id.LeaveMulticast(ap) }) }
	c.setJoining(token, addr)
	defer c.setJoining(0, netip.Addr{})
	if err := c.withID(func(id cgo.ID) error { return id.JoinMulticast(ap, token) }); err != nil {
		return fail(err)
	}
	ev, err := c.next(ctx)
	if err != nil {
		// Given up: its answer, when it comes, is dropped (next, deliver).
		leave()
		return fail(err)
	}
	if ev.Event != cgo.CMEventMulticastJoin {
		leave()
		return fail(eventError(&ev))
	}
	p := UDPeer{AHAttr: ev.AHAttr(), QPNum: ev.QPNum, QKey: ev.QKey}
	g := group{qp: qp, gid: p.AHAttr.GRH.DGID, lid: p.AHAttr.DLID}
	if err := qp.AttachMulticast(g.gid, g.lid); err != nil {
		leave()
		return fail(err)
	}
	c.mu.Lock()
	if c.closed {
		// Close came meanwhile and left the groups it knew.
		c.mu.Unlock()
		qp.DetachMulticast(g.gid, g.lid)
		return fail(ErrClosed)
	}
	if c.groups == nil {
		c.groups = map[netip.Addr]group{}
	}
	c.groups[addr] = g
	c.mu.Unlock()
	return p, nil
}

// setJoining records the token and group of the join under way (0: none).
func (c *Connector) setJoining(token uint64, addr netip.Addr) {
	c.mu.Lock()
	c.joining, c.joinAddr = token, addr
	c.mu.Unlock()
}

// staleJoin tells whether ev answers a join nobody waits for any more (a
// given-up join), or reports a joined group's later failure.
func (c *Connector) staleJoin(ev *cgo.CMEvent) bool {
	if ev.Event != cgo.CMEventMulticastJoin && ev.Event != cgo.CMEventMulticastError {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return ev.Join != c.joining
}

// LeaveMulticast detaches the group's QP and leaves the group at address
// (rdma_leave_multicast), in any state of the connector.
func (c *Connector) LeaveMulticast(address string) error {
	op := "leave multicast"
	if c == nil || c.isClosed() {
		return c.opError(op, ErrClosed)
	}
	if !c.ud || c.passive {
		return &OpError{Op: op, Addr: address, Err: fmt.Errorf("not an active UD connector: %w", ErrInvalidState)}
	}
	addr, err := groupAddr(address)
	if err != nil {
		return &OpError{Op: op, Addr: address, Err: err}
	}
	c.mu.Lock()
	g, ok := c.groups[addr]
	delete(c.groups, addr)
	c.mu.Unlock()
	if !ok {
		return &OpError{Op: op, Addr: address, Err: fmt.Errorf("group not joined: %w", syscall.EADDRNOTAVAIL)}
	}
	// A QP closed already was detached by its Close.
	detached := g.qp.DetachMulticast(g.gid, g.lid)
	if errors.Is(detached, verbs.ErrClosed) {
		detached = nil
	}
	left := c.withID(func(id cgo.ID) error { return id.LeaveMulticast(netip.AddrPortFrom(addr, 0)) })
	if err := errors.Join(detached, left); err != nil {
		return &OpError{Op: op, Addr: address, Err: err}
	}
	return nil
}

// groupAddr parses a multicast group's address: an IP multicast address,
// with or without a port.
func groupAddr(address string) (netip.Addr, error) {
	a, err := netip.ParseAddr(address)
	if err != nil {
		ap, perr := netip.ParseAddrPort(address)
		if perr != nil {
			return netip.Addr{}, &net.AddrError{Err: "not an IP address", Addr: address}
		}
		a = ap.Addr()
	}
	if !a.IsMulticast() {
		return netip.Addr{}, &net.AddrError{Err: "not a multicast address", Addr: address}
	}
	return a, nil
}
