package verbs

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sync/atomic"
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
	base       uint64 // the address the device knows mem[0] by: its own, or the IOVA of RegMRAt
	lkey, rkey uint32
	lists      atomic.Int32 // send and receive list entries naming the region
}

// pinList counts n more (or, negative, fewer) send or receive list entries naming
// the region: each holds it open, and keeps its keys from changing.
func (mr *MR) pinList(n int32) {
	mr.children.Add(n)
	mr.lists.Add(n)
}

// pinRegion finds the open region of pd that holds sge (not empty), checks
// it with check and pins it for a list entry (pinList), without waiting
// behind a Close or Rereg of the region: a list's lock may be held.
func pinRegion(pd *PD, sge SGE, check func(*MR) error) (*MR, error) {
	mr := pd.mrOf(sge.LKey)
	if mr == nil {
		return nil, errNoRegion(sge.LKey)
	}
	err := mr.tryAcquire()
	if errors.Is(err, ErrClosed) {
		return nil, errNoRegion(sge.LKey)
	}
	if err != nil {
		return nil, err
	}
	defer mr.release()
	if err := mr.contains(sge); err != nil {
		return nil, err
	}
	if err := check(mr); err != nil {
		return nil, err
	}
	mr.pinList(1)
	return mr, nil
}

// RegMR registers buf[off:off+length] (length 0: to the end) with access
// (ibv_reg_mr). Remote access needs AccessLocalWrite too, as in libibverbs.
// AccessZeroBased is refused (EINVAL): some providers (irdma) would then
// address the region from 0 unknown to the binding; RegMRAt with iova 0
// does that.
func (pd *PD) RegMR(buf *Buffer, off, length int, access Access) (*MR, error) {
	return pd.regMR("ibv_reg_mr", buf, off, length, nil, access)
}

// RegMRAt registers buf[off:off+length] as RegMR does, addressed by the
// device from iova on instead of from the memory's own address
// (ibv_reg_mr_iova2): Addr returns iova, SGE and peers' RDMA requests
// name the region's bytes from iova on, and iova 0 makes the addresses
// offsets into a region that starts a page. iova must have the memory's
// offset within its page (the kernel's rule), and the range must not
// wrap past 2^64: EINVAL otherwise. Providers copy some data from or to
// an entry's address with the CPU (inline data; mlx5 small received
// messages, and small RDMA read and atomic results on a QP whose requests
// all complete): entries in a region whose iova is not its memory's
// address are refused (EINVAL) in inline requests, in receives, and in
// RDMA reads and atomics on a QP created with SignalAll. siw
// (Linux 6.1) registers such a region but places RDMA data by the
// memory's own address: use RegMR there.
func (pd *PD) RegMRAt(buf *Buffer, off, length int, iova uint64, access Access) (*MR, error) {
	return pd.regMR("ibv_reg_mr_iova2", buf, off, length, &iova, access)
}

// regMR registers a range of buf at iova, or at its own address when iova
// is nil.
func (pd *PD) regMR(op string, buf *Buffer, off, length int, iova *uint64, access Access) (*MR, error) {
	var mr *MR
	err := pd.use(op, func(raw cgo.PD) error {
		if access&AccessZeroBased != 0 {
			return errZeroBased
		}
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
		base := uint64(uintptr(unsafe.Pointer(&mem[0])))
		if iova != nil {
			if *iova > math.MaxUint64-uint64(length) {
				return fmt.Errorf("iova %#x + %d bytes past the 64-bit space: %w", *iova, length, syscall.EINVAL)
			}
			if page := uint64(os.Getpagesize()); *iova%page != base%page {
				return fmt.Errorf("iova %#x at page offset %#x, the memory at %#x: %w", *iova, *iova%page, base%page, syscall.EINVAL)
			}
			base = *iova
		}
		r, err := raw.RegMR(unsafe.Pointer(&mem[0]), length, base, int(access))
		if err != nil {
			return err
		}
		mr = &MR{life: born(), pd: pd, buf: buf, raw: r, mem: mem, base: base, lkey: r.LKey(), rkey: r.RKey()}
		pd.addMR(mr, mr.lkey)
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
	err := mr.close(func() error {
		if err := mr.raw.Dereg(); err != nil {
			return err
		}
		mr.pd.dropMR(mr, mr.lkey)
		return nil
	})
	if err == nil {
		mr.pd.children.Add(-1)
		mr.buf.children.Add(-1)
	}
	return opError("ibv_dereg_mr", mr.pd.name(), err)
}

// view returns the region's memory, device address and keys; nil and
// zeros once it is closed (and for a nil or zero MR).
func (mr *MR) view() (mem []byte, base uint64, lkey, rkey uint32) {
	if mr == nil || !mr.acquire() {
		return nil, 0, 0, 0
	}
	defer mr.release()
	return mr.mem, mr.base, mr.lkey, mr.rkey
}

// LKey is the local key, for scatter/gather entries (0 once closed).
func (mr *MR) LKey() uint32 {
	_, _, lkey, _ := mr.view()
	return lkey
}

// RKey is the remote key a peer needs for RDMA read, write and atomics (0
// once closed).
func (mr *MR) RKey() uint32 {
	_, _, _, rkey := mr.view()
	return rkey
}

// Addr is the region's start address, as the device knows it: the one
// scatter/gather entries and peers' RDMA requests name (the memory's own,
// or RegMRAt's iova; 0 once closed).
func (mr *MR) Addr() uint64 {
	_, base, _, _ := mr.view()
	return base
}

// Len is the region's length in bytes (0 once closed).
func (mr *MR) Len() int {
	mem, _, _, _ := mr.view()
	return len(mem)
}

// Bytes is the region's memory, nil once the region is closed. It belongs
// to the Buffer, which cannot be closed while the region is registered: do
// not use it after Close.
func (mr *MR) Bytes() []byte {
	mem, _, _, _ := mr.view()
	return mem
}

// SGE returns the scatter/gather entry for bytes [off, off+n) of the region.
// It does not check the range: the device does and fails the request, and
// PostSend checks inline requests' entries, and PostRecv, NewSendList and
// NewRecvList all entries, themselves. An n that does not fit the entry's
// 32-bit length gives the largest, which no region of less than 4 GiB
// holds. Once the region is
// closed the entry has address and key 0 (no region's), and its length, so
// that a request using it fails rather than moving nothing.
func (mr *MR) SGE(off, n int) SGE {
	length := uint32(math.MaxUint32)
	if n >= 0 && uint64(n) < math.MaxUint32 {
		length = uint32(n)
	}
	mem, base, lkey, _ := mr.view()
	if mem == nil {
		return SGE{Length: length}
	}
	return SGE{Addr: base + uint64(off), Length: length, LKey: lkey}
}

// Rereg changes the region's access rights (ibv_rereg_mr with
// IBV_REREG_MR_CHANGE_ACCESS); LKey and RKey may change. When the provider
// has no re-registration (EOPNOTSUPP, e.g. rxe and siw) it registers the same
// memory anew and then deregisters the old registration, so the region stays
// usable if the new registration fails. Requests in flight with the old keys
// fail: quiesce the QPs using the region first. A region that send or
// receive lists name is not re-registered (EBUSY): their entries carry its
// keys. The region keeps its addresses (RegMRAt's IOVA); AccessZeroBased
// is refused as in RegMR.
func (mr *MR) Rereg(access Access) error {
	if mr == nil {
		return opError("ibv_rereg_mr", "", ErrClosed)
	}
	mr.mu.Lock()
	defer mr.mu.Unlock()
	if !mr.open {
		return opError("ibv_rereg_mr", mr.pd.name(), ErrClosed)
	}
	if access&AccessZeroBased != 0 {
		return opError("ibv_rereg_mr", mr.pd.name(), errZeroBased)
	}
	if n := mr.lists.Load(); n > 0 {
		// Their entries carry the keys, which may change.
		return opError("ibv_rereg_mr", mr.pd.name(), fmt.Errorf("%d send or receive list entries name the region: %w", n, syscall.EBUSY))
	}
	err := mr.raw.Rereg(int(access))
	if errors.Is(err, syscall.EOPNOTSUPP) {
		// The PD cannot close while the MR lives: its raw handle is valid.
		var r cgo.MR
		if r, err = mr.pd.raw.RegMR(unsafe.Pointer(&mr.mem[0]), len(mr.mem), mr.base, int(access)); err != nil {
			return opError("ibv_reg_mr_iova2", mr.pd.name(), err)
		}
		if err := mr.raw.Dereg(); err != nil {
			r.Dereg()
			return opError("ibv_dereg_mr", mr.pd.name(), err)
		}
		mr.raw = r
	} else if err != nil {
		return opError("ibv_rereg_mr", mr.pd.name(), err)
	}
	mr.pd.dropMR(mr, mr.lkey)
	mr.lkey, mr.rkey = mr.raw.LKey(), mr.raw.RKey()
	mr.pd.addMR(mr, mr.lkey)
	return nil
}

// contains checks that sge names mr, held open, by its lkey and lies inside
// it, in the device's addresses. A provider copies an inline request's data
// from the entry's address itself, with no key check, so that a bad
// address would crash the process: an inline entry also needs inlineFrom,
// for which those addresses are the CPU's.
func (mr *MR) contains(sge SGE) error {
	if mr.lkey != sge.LKey {
		// Re-registered since the lookup.
		return fmt.Errorf("lkey %#x is no longer its region's: %w", sge.LKey, syscall.EINVAL)
	}
	base, size := mr.base, uint64(len(mr.mem))
	if sge.Addr < base || sge.Addr-base > size || uint64(sge.Length) > size-(sge.Addr-base) {
		return fmt.Errorf("[%#x, +%d) outside its region [%#x, +%d): %w", sge.Addr, sge.Length, base, size, syscall.EINVAL)
	}
	return nil
}

// inlineFrom checks that the CPU can read an inline entry of mr, held open,
// at the entry's address: not in a region the device addresses from
// another IOVA than its memory's.
func (mr *MR) inlineFrom() error {
	if mr.atIOVA() {
		return fmt.Errorf("inline data from a region at IOVA %#x, not its memory's address: %w", mr.base, syscall.EINVAL)
	}
	return nil
}

// atIOVA tells whether the region is at another IOVA than its memory's
// address (RegMRAt); the caller holds it open.
func (mr *MR) atIOVA() bool { return mr.base != uint64(uintptr(unsafe.Pointer(&mr.mem[0]))) }

// errZeroBased refuses AccessZeroBased on a region.
var errZeroBased = fmt.Errorf("AccessZeroBased on a region (RegMRAt with iova 0 addresses it from 0): %w", syscall.EINVAL)

// errNoRegion is the error of an entry whose lkey names no open region.
func errNoRegion(lkey uint32) error {
	return fmt.Errorf("lkey %#x names no open region of the QP's PD: %w", lkey, syscall.EINVAL)
}
