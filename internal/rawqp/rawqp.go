// Package rawqp hands package rdmacm the C queue pair behind a *verbs.QP,
// so that a connection's QP transitions and its rdma_accept or
// rdma_establish take one call into C, as they do inside librdmacm for the
// QPs it creates, instead of a call per step.
package rawqp

import "github.com/go-rdma/rdma/cgo"

// Package verbs sets Acquire and Release when it is initialised. They are a
// pair rather than one function taking the work as a closure, which would
// escape to the heap through the function variable on every call.
var (
	// Acquire returns the C queue pair behind qp, a *verbs.QP, and keeps qp
	// from being destroyed until Release. A nil or closed qp gives an error
	// wrapping verbs.ErrClosed, as qp's methods do (op names the operation).
	Acquire func(qp any, op string) (cgo.QP, error)
	// Release ends an Acquire. moved reports whether the caller took the QP
	// out of RESET, which qp then records; err, the caller's, is returned
	// wrapped as qp's methods wrap theirs.
	Release func(qp any, op string, moved bool, err error) error
)
