package verbs

import (
	"errors"
	"fmt"
	"syscall"
	"unsafe"

	"github.com/go-rdma/rdma/cgo"
)

// Access flags for memory regions and queue pairs (enum ibv_access_flags).
type Access int

// Access rights.
const (
	AccessLocalWrite   Access = 1 << 0
	AccessRemoteWrite  Access = 1 << 1
	AccessRemoteRead   Access = 1 << 2
	AccessRemoteAtomic Access = 1 << 3
	AccessMWBind       Access = 1 << 4
	AccessZeroBased    Access = 1 << 5
	AccessOnDemand     Access = 1 << 6
	AccessHugeTLB      Access = 1 << 7
	AccessRelaxedOrder Access = 1 << 20
)

// MR is a registered memory region (struct ibv_mr) over part of a Buffer.
type MR struct {
	life
	pd         *PD
	buf        *Buffer
	raw        cgo.MR
	mem        []byte
	lkey, rkey uint32
}

// RegMR registers buf[off:off+length] (length 0: to the end) with access
// (ibv_reg_mr). Remote access needs AccessLocalWrite too, as in libibverbs.
func (pd *PD) RegMR(buf *Buffer, off, length int, access Access) (*MR, error) {
	var mr *MR
	err := pd.use("ibv_reg_mr", func(raw cgo.PD) error {
		if buf == nil || !buf.acquire() {
			return fmt.Errorf("buffer: %w", ErrClosed)
		}
		defer buf.release()
		if length == 0 {
			length = len(buf.mem) - off
		}
		if off < 0 || off > len(buf.mem) || length <= 0 || length > len(buf.mem)-off {
			return fmt.Errorf("range [%d, %d+%d) outside the %d-byte buffer: %w", off, off, length, len(buf.mem), syscall.EINVAL)
		}
		mem := buf.mem[off : off+length]
		r, err := raw.RegMR(unsafe.Pointer(&mem[0]), length, int(access))
		if err != nil {
			return err
		}
		mr = &MR{life: born(), pd: pd, buf: buf, raw: r, mem: mem, lkey: r.LKey(), rkey: r.RKey()}
		pd.children.Add(1)
		buf.children.Add(1)
		return nil
	})
	return mr, err
}

// Close deregisters the region (ibv_dereg_mr).
func (mr *MR) Close() error {
	if mr == nil {
		return opError("ibv_dereg_mr", "", ErrClosed)
	}
	err := mr.close(mr.raw.Dereg)
	if err == nil {
		mr.pd.children.Add(-1)
		mr.buf.children.Add(-1)
	}
	return opError("ibv_dereg_mr", mr.pd.name(), err)
}

// LKey is the local key, for scatter/gather entries (0 for a nil MR).
func (mr *MR) LKey() uint32 {
	if mr == nil {
		return 0
	}
	mr.mu.RLock()
	defer mr.mu.RUnlock()
	return mr.lkey
}

// RKey is the remote key a peer needs for RDMA read, write and atomics.
func (mr *MR) RKey() uint32 {
	if mr == nil {
		return 0
	}
	mr.mu.RLock()
	defer mr.mu.RUnlock()
	return mr.rkey
}

// Addr is the region's start address, as a peer names it in RDMA requests
// (0 for a nil or zero MR).
func (mr *MR) Addr() uint64 {
	if mr == nil || len(mr.mem) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(&mr.mem[0])))
}

// Len is the region's length in bytes.
func (mr *MR) Len() int {
	if mr == nil {
		return 0
	}
	return len(mr.mem)
}

// Bytes is the region's memory (nil for a nil MR). It belongs to the Buffer,
// which cannot be closed while the region is registered.
func (mr *MR) Bytes() []byte {
	if mr == nil {
		return nil
	}
	return mr.mem
}

// SGE returns the scatter/gather entry for bytes [off, off+n) of the region.
// It does not check the range: the device does, and fails the request.
func (mr *MR) SGE(off, n int) SGE {
	return SGE{Addr: mr.Addr() + uint64(off), Length: uint32(n), LKey: mr.LKey()}
}

// Rereg changes the region's access rights (ibv_rereg_mr with
// IBV_REREG_MR_CHANGE_ACCESS); LKey and RKey may change. When the provider
// has no re-registration (EOPNOTSUPP, e.g. rxe and siw) it registers the same
// memory anew and then deregisters the old registration, so the region stays
// usable if the new registration fails. Requests in flight with the old keys
// fail: quiesce the QPs using the region first.
func (mr *MR) Rereg(access Access) error {
	if mr == nil {
		return opError("ibv_rereg_mr", "", ErrClosed)
	}
	mr.mu.Lock()
	defer mr.mu.Unlock()
	if !mr.open {
		return opError("ibv_rereg_mr", mr.pd.name(), ErrClosed)
	}
	err := mr.raw.Rereg(int(access))
	if errors.Is(err, syscall.EOPNOTSUPP) {
		// The PD cannot close while the MR lives: its raw handle is valid.
		var r cgo.MR
		if r, err = mr.pd.raw.RegMR(unsafe.Pointer(&mr.mem[0]), len(mr.mem), int(access)); err != nil {
			return opError("ibv_reg_mr", mr.pd.name(), err)
		}
		if err := mr.raw.Dereg(); err != nil {
			r.Dereg()
			return opError("ibv_dereg_mr", mr.pd.name(), err)
		}
		mr.raw = r
	} else if err != nil {
		return opError("ibv_rereg_mr", mr.pd.name(), err)
	}
	mr.lkey, mr.rkey = mr.raw.LKey(), mr.raw.RKey()
	return nil
}
