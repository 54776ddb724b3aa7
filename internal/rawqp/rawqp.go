// Package rawqp hands package rdmacm the C queue pair behind a *verbs.QP,
// so that a connection's QP transitions and its rdma_accept or
// rdma_establish take one call into C, as they do inside librdmacm for the
// QPs it creates, instead of a call per step.
package rawqp

import "github.com/go-rdma/rdma/cgo"

// Use runs f with the C queue pair behind qp, a *verbs.QP, while qp cannot
// be destroyed, and wraps f's error as qp's methods do (op names the
// operation). f reports whether it took the QP out of RESET, which qp then
// records. A nil or closed qp gives verbs.ErrClosed without calling f.
// Package verbs sets Use when it is initialised.
var Use func(qp any, op string, f func(raw cgo.QP) (moved bool, err error)) error
