package rdmacm

import (
	"fmt"
	"syscall"

	"github.com/go-rdma/rdma/cgo"
)

// MaxAckTimeout is the largest ACK timeout exponent (SetAckTimeout): the
// QP's timeout field has 5 bits.
const MaxAckTimeout = 31

// SetTOS sets the IP type of service (RFC 2474: DSCP in the upper six bits,
// ECN in the lower two) of the connection's traffic, as
// rdma_set_option(RDMA_OPTION_ID_TOS) does. On RoCE the route takes it as
// its traffic class (and its service level from the netdev's priority
// mapping), so it has to be set on an active connector before Resolve or
// Connect; the passive side's QP gets the same traffic class from the
// request. Without it the device's default (rdma_cm's configfs
// default_roce_tos, 0 unless changed) applies. iWARP devices may carry it in
// their TCP connection's IP header; soft-iWARP (siw) ignores it.
func (c *Connector) SetTOS(tos int) error {
	return c.setOption("set tos", false, []state{stateIdle}, func(id cgo.ID) error {
		if tos < 0 || tos > 255 {
			return fmt.Errorf("type of service %d (0 to 255): %w", tos, syscall.EINVAL)
		}
		return id.SetTOS(uint8(tos))
	})
}

// SetAckTimeout sets the local ACK timeout of the connection's QP to
// 4.096 µs × 2^timeout (0 to MaxAckTimeout; 0 waits forever), where rdma_cm
// would derive it from the path's packet lifetime
// (rdma_set_option(RDMA_OPTION_ID_ACK_TIMEOUT)). The QP takes it on its way
// to RTS, so set it on an active connector before Connect or on a passive
// one before Accept. On IB and RoCE it is the QP's timeout attribute; set
// on the active side before Resolve it also becomes the route's packet
// lifetime, from which the passive side's QP timeout follows unless that
// side sets its own. iWARP retransmits through TCP and has none, and UD has
// no ACKs (EINVAL).
func (c *Connector) SetAckTimeout(timeout int) error {
	return c.setOption("set ack timeout", true, []state{stateIdle, stateResolved}, func(id cgo.ID) error {
		if timeout < 0 || timeout > MaxAckTimeout {
			return fmt.Errorf("ack timeout %d (0 to %d): %w", timeout, MaxAckTimeout, syscall.EINVAL)
		}
		if c.ud {
			return fmt.Errorf("UD has no ACK timeout: %w", syscall.EINVAL)
		}
		return id.SetAckTimeout(uint8(timeout))
	})
}

// SetReuseAddr sets whether Bind may take a local address and port that
// other connectors allowing it have bound too, as SO_REUSEADDR does for
// sockets (rdma_set_option(RDMA_OPTION_ID_REUSEADDR)). Set it on an active
// connector before Bind; Bind of an address in use by a connector without
// it fails with EADDRINUSE.
func (c *Connector) SetReuseAddr(on bool) error {
	return c.setOption("set reuseaddr", false, []state{stateIdle}, func(id cgo.ID) error {
		c.mu.Lock()
		bound := c.laddr.IsValid()
		c.mu.Unlock()
		if bound {
			return fmt.Errorf("connector is bound already: %w", ErrInvalidState)
		}
		return id.SetReuseAddr(on)
	})
}

// setOption claims the connector in one of the active states allowed (or,
// if passiveToo, a passive connector whose request waits for Accept), then
// runs set on its identifier.
func (c *Connector) setOption(op string, passiveToo bool, allowed []state, set func(cgo.ID) error) error {
	passive := c != nil && c.passive
	if passive && passiveToo {
		allowed = []state{stateRequested}
	}
	if _, err := c.claim(passive, allowed...); err != nil {
		return c.opError(op, err)
	}
	defer c.unclaim()
	return c.opError(op, c.withID(set))
}
