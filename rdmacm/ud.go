package rdmacm

import (
	"context"
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
//   - JoinMulticast (after Bind or Resolve) joins a multicast group and
//     attaches a UD QP to it.
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
func (c *Connector) acceptUD(qp *verbs.QP, wire []byte) error {
	if err := c.initQP(qp); err != nil {
		return err
	}
	err := c.withID(func(id cgo.ID) error { return id.Accept(&cgo.ConnParam{QPNum: qp.Num(), PrivateData: wire}) })
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
// address; the port is not used and may be left out) on the device the
// connector is bound to (Bind) or resolved through (Resolve), attaches qp,
// a UD QP of that device (moved to RTS first if new), and returns where
// datagrams for the group go (QPNum is MulticastQPN). qp then receives the
// group's datagrams, its own included; each starts with the 40-byte GRH, as
// every UD receive does. LeaveMulticast or Close undoes it.
func (c *Connector) JoinMulticast(ctx context.Context, address string, qp *verbs.QP) (UDPeer, error) {
	op := "join multicast"
	if _, err := c.claim(false, stateIdle, stateResolved); err != nil {
		return UDPeer{}, c.opError(op, err)
	}
	defer c.unclaim()
	if !c.ud {
		return UDPeer{}, c.opError(op, fmt.Errorf("not a UD connector: %w", ErrInvalidState))
	}
	ap, err := groupAddr(address)
	if err != nil {
		return UDPeer{}, &OpError{Op: op, Addr: address, Err: err}
	}
	if err := c.checkQP(qp); err != nil {
		return UDPeer{}, &OpError{Op: op, Addr: address, Err: err}
	}
	c.mu.Lock()
	_, joined := c.groups[ap]
	c.mu.Unlock()
	if joined {
		return UDPeer{}, &OpError{Op: op, Addr: address, Err: fmt.Errorf("group joined already: %w", syscall.EADDRINUSE)}
	}
	if err := c.initQP(qp); err != nil {
		return UDPeer{}, &OpError{Op: op, Addr: address, Err: err}
	}
	if err := c.withID(func(id cgo.ID) error { return id.JoinMulticast(ap) }); err != nil {
		return UDPeer{}, &OpError{Op: op, Addr: address, Err: err}
	}
	ev, err := c.next(ctx)
	if err != nil {
		return UDPeer{}, &OpError{Op: op, Addr: address, Err: err}
	}
	if ev.Event != cgo.CMEventMulticastJoin {
		c.withID(func(id cgo.ID) error { return id.LeaveMulticast(ap) })
		return UDPeer{}, &OpError{Op: op, Addr: address, Err: eventError(&ev)}
	}
	p := UDPeer{AHAttr: ev.AHAttr(), QPNum: ev.QPNum, QKey: ev.QKey}
	g := group{qp: qp, gid: p.AHAttr.GRH.DGID, lid: p.AHAttr.DLID}
	if err := qp.AttachMulticast(g.gid, g.lid); err != nil {
		c.withID(func(id cgo.ID) error { return id.LeaveMulticast(ap) })
		return UDPeer{}, &OpError{Op: op, Addr: address, Err: err}
	}
	c.mu.Lock()
	if c.groups == nil {
		c.groups = map[netip.AddrPort]group{}
	}
	c.groups[ap] = g
	c.mu.Unlock()
	return p, nil
}

// LeaveMulticast detaches the group's QP and leaves the group at address
// (rdma_leave_multicast).
func (c *Connector) LeaveMulticast(address string) error {
	op := "leave multicast"
	if _, err := c.claim(false, stateIdle, stateResolved); err != nil {
		return c.opError(op, err)
	}
	defer c.unclaim()
	ap, err := groupAddr(address)
	if err != nil {
		return &OpError{Op: op, Addr: address, Err: err}
	}
	c.mu.Lock()
	g, ok := c.groups[ap]
	delete(c.groups, ap)
	c.mu.Unlock()
	if !ok {
		return &OpError{Op: op, Addr: address, Err: fmt.Errorf("group not joined: %w", syscall.EADDRNOTAVAIL)}
	}
	detachErr := g.qp.DetachMulticast(g.gid, g.lid)
	if err := c.withID(func(id cgo.ID) error { return id.LeaveMulticast(ap) }); err != nil {
		return &OpError{Op: op, Addr: address, Err: err}
	}
	if detachErr != nil {
		return &OpError{Op: op, Addr: address, Err: detachErr}
	}
	return nil
}

// groupAddr parses a multicast group's address: an IP multicast address,
// with or without a port.
func groupAddr(address string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		a, aerr := netip.ParseAddr(address)
		if aerr != nil {
			return netip.AddrPort{}, &net.AddrError{Err: "not an IP address", Addr: address}
		}
		ap = netip.AddrPortFrom(a, 0)
	}
	if !ap.Addr().IsMulticast() {
		return netip.AddrPort{}, &net.AddrError{Err: "not a multicast address", Addr: address}
	}
	return ap, nil
}
