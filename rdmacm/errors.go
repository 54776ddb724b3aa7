package rdmacm

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/go-rdma/rdma/cgo"
)

var (
	// ErrClosed is returned (wrapped) by every method with an error result
	// of a closed, nil or zero Listener or Connector.
	ErrClosed = errors.New("use of closed rdmacm object")

	// ErrConnectionRefused matches a *RejectError: the peer (or its stack,
	// when nobody listens) refused the connection. errors.Is also matches
	// syscall.ECONNREFUSED.
	ErrConnectionRefused = errors.New("connection refused")

	// ErrConnectionAborted is returned by Reject, Accept and
	// CompleteConnect when the peer had already abandoned the connection
	// (NDK STATUS_CONNECTION_ABORTED); CompleteConnect, and Accept once
	// its QP was ready, flush the QP.
	ErrConnectionAborted = errors.New("connection aborted: the peer abandoned the connection attempt")

	// ErrPrivateDataTooLong is returned, before anything is sent, for
	// private data over the transport's limit for that message.
	ErrPrivateDataTooLong = errors.New("private data too long")

	// ErrInvalidState is returned by a call that the connector's state does
	// not allow (e.g. Accept on an active connector).
	ErrInvalidState = errors.New("not allowed in the connector's state")

	// ErrUnsupported is returned for a step the transport or the
	// connection type does not have: Reject on the active side of an iWARP
	// connection, whose Connect completes the connection without a response
	// phase; Disconnect of a UD connector (Close it); Listener.Accept on a
	// ListenUD listener (take UD lookups with GetConnectionRequest).
	ErrUnsupported = errors.New("not supported by the transport")
)

// errNilContext is the cause of the error of a blocking call given a nil
// context.Context.
var errNilContext = fmt.Errorf("nil context.Context: %w", syscall.EINVAL)

// OpError describes a failed operation, like net.OpError: which operation,
// on which connector, and why. Err wraps the errno from librdmacm, an
// *EventError, a *RejectError, ErrClosed, or a validation error.
type OpError struct {
	Op   string // "connect", "accept", "reject", "listen", …
	Addr string // the local or remote address involved, if any
	Err  error
}

// Error formats the operation, the address and the cause.
func (e *OpError) Error() string {
	if e.Addr == "" {
		return fmt.Sprintf("rdmacm: %s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("rdmacm: %s %s: %v", e.Op, e.Addr, e.Err)
}

// Unwrap returns the cause.
func (e *OpError) Unwrap() error { return e.Err }

// RejectError is a refused connection: the reason the transport reported
// (IB CM reject reason, e.g. 28 "consumer reject" or 8 "invalid service ID"
// on IB/RoCE; a negative errno on iWARP) and the peer's private data, exact
// when the peer framed it (see the package documentation), raw otherwise.
type RejectError struct {
	Status      int
	PrivateData []byte
	// UD is set for the refusal of a UD lookup (Connect of a UD connector):
	// Status is then the IB CM SIDR reply's status, e.g. 1 "service not
	// supported" (nobody listens) or 2 "rejected" (Reject).
	UD bool
}

// Error formats the reason and the size of the peer's private data.
func (e *RejectError) Error() string {
	return fmt.Sprintf("connection refused: %s, %d bytes of private data", e.Reason(), len(e.PrivateData))
}

// Reason returns the reason in words: the IB CM reject reason and its
// number (e.g. "invalid service ID (reason 8)"), or the errno text on iWARP.
func (e *RejectError) Reason() string {
	if e.Status < 0 {
		return syscall.Errno(-e.Status).Error()
	}
	reasons := ibRejectReasons
	if e.UD {
		reasons = sidrStatuses
	}
	if s, ok := reasons[e.Status]; ok {
		return fmt.Sprintf("%s (reason %d)", s, e.Status)
	}
	return fmt.Sprintf("status %d", e.Status)
}

// Is makes errors.Is match ErrConnectionRefused and syscall.ECONNREFUSED,
// and on iWARP the errno of the refusal (syscall.ECONNRESET for a reset).
func (e *RejectError) Is(target error) bool {
	return target == ErrConnectionRefused || target == syscall.ECONNREFUSED ||
		e.Status < 0 && target == syscall.Errno(-e.Status)
}

// ConsumerReject reports whether the peer application rejected (IB reason 28,
// or 35 for a RejectECE, or iWARP ECONNREFUSED/ECONNRESET), rather than its
// stack finding no listener.
func (e *RejectError) ConsumerReject() bool {
	if e.UD {
		return e.Status == sidrReject
	}
	return e.Status == ibRejectConsumer || e.Status == ibRejectVendorOption || e.Status == -int(syscall.ECONNRESET) ||
		e.Status == -int(syscall.ECONNREFUSED)
}

// IB CM reject reasons a consumer gives: Reject's, and RejectECE's.
const (
	ibRejectConsumer     = 28
	ibRejectVendorOption = 35
)

// sidrReject is the SIDR reply status of a Reject (IB_SIDR_REJECT).
const sidrReject = 2

// sidrStatuses name the statuses of an IB CM SIDR reply (enum ib_cm_sidr_status).
var sidrStatuses = map[int]string{
	1: "service not supported", 2: "rejected", 3: "no QP", 4: "redirect", 5: "unsupported version",
}

var ibRejectReasons = map[int]string{
	1: "no QP", 2: "no EEC", 3: "no resources", 4: "timeout", 5: "unsupported request",
	6: "invalid communication ID", 7: "invalid communication instance", 8: "invalid service ID",
	9: "invalid transport type", 10: "stale connection", 11: "RDC does not exist", 12: "invalid GID",
	13: "invalid LID", 14: "invalid SL", 15: "invalid traffic class", 16: "invalid hop limit",
	17: "invalid packet rate", 18: "invalid alternate GID", 19: "invalid alternate LID",
	20: "invalid alternate SL", 21: "invalid alternate traffic class", 22: "invalid alternate hop limit",
	23: "invalid alternate packet rate", 24: "port and CM redirection", 25: "port redirection",
	26: "invalid MTU", 27: "insufficient responder resources", ibRejectConsumer: "consumer reject",
	29: "invalid RNR NAK timeout", 30: "duplicate local communication ID", 31: "unsupported class version",
	32: "invalid flow label", 33: "invalid alternate flow label", ibRejectVendorOption: "vendor option not supported",
}

// EventError is an rdma_cm event that ended an operation other than as
// hoped: address or route errors, unreachable peers, connection errors,
// device removal. Errors with a negative errno status wrap that errno, so
// errors.Is(err, syscall.ETIMEDOUT) works.
type EventError struct {
	Event  string // rdma_event_str, e.g. "RDMA_CM_EVENT_UNREACHABLE"
	Status int
}

// Error formats the event and its status.
func (e *EventError) Error() string {
	if e.Status < 0 {
		return fmt.Sprintf("%s: %v", e.Event, syscall.Errno(-e.Status))
	}
	return fmt.Sprintf("%s (status %d)", e.Event, e.Status)
}

// Unwrap returns the errno of a negative status.
func (e *EventError) Unwrap() error {
	if e.Status < 0 {
		return syscall.Errno(-e.Status)
	}
	return nil
}

func eventError(ev *cgo.CMEvent) error {
	return &EventError{Event: cgo.CMEventString(ev.Event), Status: int(ev.Status)}
}
