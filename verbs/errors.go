package verbs

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/go-rdma/rdma/cgo"
)

// ErrClosed is returned (wrapped in an *OpError) by every method called on a
// closed or nil object, like net.ErrClosed for network connections.
var ErrClosed = errors.New("use of closed RDMA object")

// ErrNotReady is the cause of a *PostError for a post to an IB or RoCE QP
// in a state that takes no such requests, as libibverbs last recorded it:
// a send before RTS (RESET, INIT, RTR), a receive in RESET. It wraps
// syscall.EINVAL. (rxe would queue such a send although it reports it
// refused, and send it once the QP reaches RTS.) iWARP QPs are not checked:
// their connection manager moves them in the kernel, unrecorded.
var ErrNotReady = cgo.ErrNotReady

// OpError describes a failed verbs operation: which operation, on which object,
// and why. Err is the cause: a syscall.Errno captured from libibverbs in the
// failing call, ErrClosed, or a validation error; errors.Is and errors.As see
// through it.
type OpError struct {
	Op     string // libibverbs call or method, e.g. "ibv_query_port"
	Object string // what it was applied to, e.g. "rxe0 port 1"
	Err    error
}

// Error formats the operation, the object and the cause.
func (e *OpError) Error() string {
	if e.Object == "" {
		return fmt.Sprintf("verbs: %s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("verbs: %s %s: %v", e.Op, e.Object, e.Err)
}

// Unwrap returns the cause.
func (e *OpError) Unwrap() error { return e.Err }

// errNilContext is the cause of the error of a blocking call given a nil
// context.Context.
var errNilContext = fmt.Errorf("nil context.Context: %w", syscall.EINVAL)

func opError(op, object string, err error) error {
	if err == nil {
		return nil
	}
	return &OpError{Op: op, Object: object, Err: err}
}
