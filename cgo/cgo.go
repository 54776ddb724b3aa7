// Package cgo is go-rdma's thin raw layer over rdma-core: the only package that
// imports "C". It wraps libibverbs and librdmacm calls, mostly one to one,
// with a few C shims that make several calls in one crossing (busy polls,
// send-list posts, a connection's QP transitions), copies C structures into
// plain Go values, and captures errno in the same cgo call that
// failed. Safety (closed objects, nil arguments, lifetimes) is the job of the
// packages above it, verbs and rdmacm.
package cgo

/*
#cgo LDFLAGS: -libverbs
#include <errno.h>
#include <stdint.h>
*/
import "C"

import (
	"syscall"
	"unsafe"
)

// cptr passes C memory to a shim that takes it as uintptr_t, which cgo does
// not check for Go pointers (see go_post_send).
func cptr(p unsafe.Pointer) C.uintptr_t { return C.uintptr_t(uintptr(p)) }

// errnoOf turns the result of a C call that reports failure through its return
// value into an error. Many verbs return a positive errno on failure; others
// return -1 and set errno, which cgo hands back as callErr, and a few
// providers a negative errno.
func errnoOf(rc C.int, callErr error) error {
	switch {
	case rc == 0:
		return nil
	case rc > 0:
		return syscall.Errno(rc)
	case callErr != nil:
		return callErr
	case rc == -1:
		return syscall.EIO // -1 without errno: ibv_query_gid's sysfs path, for one
	default:
		return syscall.Errno(-rc)
	}
}
