package cgo

/*
#include <infiniband/verbs.h>
*/
import "C"

import (
	"syscall"
	"unsafe"
)

// PD is a protection domain (struct ibv_pd *).
type PD struct{ p *C.struct_ibv_pd }

// AllocPD allocates a protection domain (ibv_alloc_pd).
func (c Context) AllocPD() (PD, error) {
	pd, err := C.ibv_alloc_pd(c.p)
	if pd == nil {
		return PD{}, nonNil(err)
	}
	return PD{p: pd}, nil
}

// Dealloc frees the protection domain (ibv_dealloc_pd).
func (pd PD) Dealloc() error {
	rc, err := C.ibv_dealloc_pd(pd.p)
	return errnoOf(rc, err)
}

// MR is a registered memory region (struct ibv_mr *).
type MR struct{ p *C.struct_ibv_mr }

// RegMR registers length bytes at addr, which the device addresses from
// iova on (ibv_reg_mr_iova2; ibv_reg_mr is iova = addr). The memory must
// not be managed by Go's garbage collector: mmap'd or C-allocated.
func (pd PD) RegMR(addr unsafe.Pointer, length int, iova uint64, access int) (MR, error) {
	mr, err := C.ibv_reg_mr_iova2(pd.p, addr, C.size_t(length), C.uint64_t(iova), C.uint(access))
	if mr == nil {
		return MR{}, nonNil(err)
	}
	return MR{p: mr}, nil
}

// Dereg deregisters the region (ibv_dereg_mr).
func (mr MR) Dereg() error {
	rc, err := C.ibv_dereg_mr(mr.p)
	return errnoOf(rc, err)
}

// LKey is the region's local key.
func (mr MR) LKey() uint32 { return uint32(mr.p.lkey) }

// RKey is the region's remote key.
func (mr MR) RKey() uint32 { return uint32(mr.p.rkey) }

// nonNil returns err, or EIO when a C call failed without setting errno.
func nonNil(err error) error {
	if err == nil {
		return syscall.EIO
	}
	return err
}

// queueErr returns err, or ENOMEM when creating a queue (CQ, QP, SRQ)
// failed without setting errno: libsiw does so when the kernel has no room
// left to map the queue into the process (about 144 pages per open device).
func queueErr(err error) error {
	if err == nil {
		return syscall.ENOMEM
	}
	return err
}

// Rereg changes the region's access flags in place (ibv_rereg_mr with
// IBV_REREG_MR_CHANGE_ACCESS); its keys may change.
func (mr MR) Rereg(access int) error {
	rc, err := C.ibv_rereg_mr(mr.p, C.IBV_REREG_MR_CHANGE_ACCESS, nil, nil, 0, C.int(access))
	if rc == 0 {
		return nil
	}
	return nonNil(err)
}
