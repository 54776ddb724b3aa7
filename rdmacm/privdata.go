package rdmacm

import (
	"fmt"

	"github.com/go-rdma/rdma/cgo"
)

// Message is one of the three connection messages that carry private data.
type Message int

// Messages carrying private data.
const (
	MsgConnect Message = iota // the request (IB CM REQ, MPA request)
	MsgAccept                 // the answer to it (IB CM REP, MPA reply)
	MsgReject                 // a refusal (IB CM REJ, MPA reply with reject)
)

// String returns the message's name ("connect", "accept", "reject").
func (m Message) String() string {
	if !m.valid() {
		return fmt.Sprintf("Message(%d)", int(m))
	}
	return [...]string{"connect", "accept", "reject"}[m]
}

func (m Message) valid() bool { return m >= MsgConnect && m <= MsgReject }

// Private data framing. IB and RoCE pad private data with zeros to the size
// of the CM message's field, so its length is lost on the wire. Unless
// asked for raw private data, a Connector sends
//
//	0xD7 'R' LEN DATA[LEN]
//
// and a receiver that finds this header returns exactly DATA. Private data
// without it (from a C peer, say) is returned as received, padding included.
const (
	frameMagic0 = 0xD7
	frameMagic1 = 'R'
	frameHeader = 3
)

// rawLimits are the most private data bytes librdmacm carries per message:
// IB CM field sizes minus rdma_cm's own header on IB/RoCE, what soft-iWARP
// accepts for MPA on iWARP.
var rawLimits = map[cgo.Transport][3]int{
	cgo.TransportIB:    {56, 196, 148},
	cgo.TransportIWARP: {iwarpLimit, iwarpLimit, iwarpLimit},
}

// udLimits are the most private data bytes a UD lookup carries (IB CM
// SIDR): 216 in the request less rdma_cm's 36-byte header, 136 in the
// reply, which also carries a refusal.
var udLimits = [3]int{180, 136, 136}

// iwarpLimit is the largest private data an MPA request, reply or reject
// carried end to end between siw peers (kernel 6.1, MPA v2): 255, the most
// rdma_conn_param can say, less the 4 bytes of MPA v2's IRD/ORD. Larger
// ones are refused by the stack (the peer sees a reset).
const iwarpLimit = 251

// MaxPrivateData returns the most private data bytes msg may carry on the
// transport of a device (as Connector.Transport reports it): the raw field
// size, minus the 3-byte framing header unless raw is true. These are NDK's
// MaxCallerData (connect) and MaxCalleeData (accept, reject). A Message
// that is none of the three carries nothing: 0.
//
// These are the limits of connections; a UD connector's
// (Connector.MaxPrivateData) are those of IB CM's SIDR messages: 180 bytes
// raw in a lookup, 136 in its answer or refusal.
func MaxPrivateData(transport cgo.Transport, msg Message, raw bool) int {
	return space{transport: transport}.max(msg, raw)
}

// space is what the private data limits depend on: the transport, and
// whether the identifier is for UD.
type space struct {
	transport cgo.Transport
	ud        bool
}

func (s space) max(msg Message, raw bool) int {
	if !msg.valid() {
		return 0
	}
	l, ok := rawLimits[s.transport]
	if !ok {
		l = rawLimits[cgo.TransportIB]
	}
	if s.ud {
		l = udLimits
	}
	n := l[msg]
	if !raw {
		n -= frameHeader
	}
	return n
}

func (s space) String() string {
	if s.ud {
		return "UD"
	}
	return s.transport.String()
}

// encode checks data against the limit and frames it (unless raw).
func encode(s space, msg Message, data []byte, raw bool) ([]byte, error) {
	if max := s.max(msg, raw); len(data) > max {
		return nil, fmt.Errorf("%d bytes of %s private data, %v allows %d: %w", len(data), msg, s, max, ErrPrivateDataTooLong)
	}
	if raw {
		return data, nil
	}
	out := make([]byte, frameHeader+len(data))
	out[0], out[1], out[2] = frameMagic0, frameMagic1, byte(len(data))
	copy(out[frameHeader:], data)
	return out, nil
}

// decode returns the framed data, or wire itself when it carries no frame.
func decode(wire []byte) []byte {
	if framed(wire) {
		return wire[frameHeader : frameHeader+int(wire[2])]
	}
	return wire
}

// framed tells whether wire holds a frame of go-rdma's.
func framed(wire []byte) bool {
	return len(wire) >= frameHeader && wire[0] == frameMagic0 && wire[1] == frameMagic1 &&
		frameHeader+int(wire[2]) <= len(wire)
}

// unanswered tells whether wire, a refusal's private data, is what IB CM
// sends for an identifier destroyed without a Reject: no frame, all zeros.
// (A peer's RejectRaw(nil), or C's rdma_reject with no data, looks the
// same.)
func unanswered(wire []byte) bool {
	if framed(wire) {
		return false
	}
	for _, b := range wire {
		if b != 0 {
			return false
		}
	}
	return true
}
