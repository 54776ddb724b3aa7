package verbs

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/go-rdma/rdma/cgo"
)

// MWType is a memory window's type (enum ibv_mw_type).
type MWType int

// Memory window types. A type 1 window is bound with QP.BindMW, by any QP
// of its PD, and may be bound again while bound; a type 2 window is bound
// by a WRBindMW request of PostSend, to the QP that posts it, and only
// while unbound.
const (
	MWType1 MWType = cgo.MWType1
	MWType2 MWType = cgo.MWType2
)

// MW is a memory window (struct ibv_mw): remote access, through its own
// rkey, to a range of a memory region with rights of its own, granted and
// revoked without re-registering the region.
//
// A window keeps the region it was last bound to open (MR.Close: EBUSY)
// until it is bound to another region or closed. On rxe a type 2 window
// also keeps open each QP a bind of it was posted through (QP.Close:
// EBUSY) until it is closed: rxe (Linux 6.1) would write to the freed QP
// when the window is invalidated or freed.
type MW struct {
	life
	pd  *PD
	raw cgo.MW
	typ MWType
	key windowKey // type 2: its entry in windows

	bindMu  sync.Mutex // guards mr, rkey, unbound and qps
	mr      *MR        // the region of the last bind, counted as its child
	rkey    uint32
	unbound bool   // type 2: no bind posted since allocation or the last invalidate posted
	qps     []*QP  // rxe: the QPs type 2 binds were posted through, each counted as its child
	bindQP  uint32 // rxe: the number of the QP the last type 2 bind was posted through
}

// windows are this process's open type 2 windows by device and index (an
// rkey's upper 24 bits), which checkInvalidate and CQ.polled look an rkey
// up in; open counts them.
var windows = struct {
	sync.Mutex
	m    map[windowKey]*MW
	open atomic.Int64
}{m: map[windowKey]*MW{}}

type windowKey struct {
	device string
	index  uint32
}

// qpNums counts this process's open QPs by device and number, in all its
// contexts, for peerIsLocal.
var qpNums = struct {
	sync.Mutex
	m map[qpKey]int
}{m: map[qpKey]int{}}

type qpKey struct {
	device string
	num    uint32
}

// countQP adds n (1 or -1) to the count of the QP's device and number.
func countQP(qp *QP, n int) {
	k := qpKey{qp.pd.ctx.name, qp.num}
	qpNums.Lock()
	if qpNums.m[k] += n; qpNums.m[k] <= 0 {
		delete(qpNums.m, k)
	}
	qpNums.Unlock()
}

// windowOf returns the open type 2 window of this process on device that
// rkey names by its index, if any.
func windowOf(device string, rkey uint32) *MW {
	windows.Lock()
	defer windows.Unlock()
	return windows.m[windowKey{device, rkey >> 8}]
}

// MWBind is the part of a memory region a window grants access to (struct
// ibv_mw_bind_info).
type MWBind struct {
	MR *MR
	// Addr and Length are the window's range: Addr as the peer names it,
	// from MR.Addr() to MR.Addr()+MR.Len().
	Addr   uint64
	Length uint64
	// Access is the remote rights the window grants (AccessRemoteWrite,
	// AccessRemoteRead, AccessRemoteAtomic), within the region's: remote
	// write needs a region with AccessLocalWrite, and any window a region
	// registered with AccessMWBind.
	Access Access
}

// AllocMW allocates a memory window of type typ (ibv_alloc_mw). Providers
// without memory windows (QueryDevice's MaxMW is 0) fail with EOPNOTSUPP.
func (pd *PD) AllocMW(typ MWType) (*MW, error) {
	var mw *MW
	err := pd.use("ibv_alloc_mw", func(raw cgo.PD) error {
		if typ != MWType1 && typ != MWType2 {
			return fmt.Errorf("memory window type %d: %w", typ, syscall.EINVAL)
		}
		r, err := raw.AllocMW(int(typ))
		if err != nil {
			return err
		}
		mw = &MW{life: born(), pd: pd, raw: r, typ: typ, rkey: r.RKey(), unbound: typ == MWType2}
		pd.children.Add(1)
		if typ == MWType2 {
			mw.key = windowKey{pd.ctx.Name(), mw.rkey >> 8}
			windows.Lock()
			windows.m[mw.key] = mw
			windows.open.Store(int64(len(windows.m)))
			windows.Unlock()
		}
		return nil
	})
	return mw, err
}

// Type is the window's type (0 for a nil MW).
func (mw *MW) Type() MWType {
	if mw == nil {
		return 0
	}
	return mw.typ
}

// RKey is the window's remote key, as the last bind posted set it (0 for a
// nil MW). A peer uses it like a region's rkey, within the window's range.
func (mw *MW) RKey() uint32 {
	if mw == nil {
		return 0
	}
	mw.bindMu.Lock()
	defer mw.bindMu.Unlock()
	return mw.rkey
}

// bound records a posted bind of the window to mr with rkey; the caller
// holds the window and mr open.
func (mw *MW) bound(mr *MR, rkey uint32) {
	mw.bindMu.Lock()
	defer mw.bindMu.Unlock()
	if mw.mr != mr {
		if mw.mr != nil {
			mw.mr.children.Add(-1)
		}
		if mr != nil {
			mr.children.Add(1)
		}
		mw.mr = mr
	}
	mw.rkey = rkey
	mw.unbound = mw.typ == MWType2 && mr == nil
}

// boundThrough records that a type 2 bind of the window was posted
// through qp. On rxe (Linux 6.1) a bound type 2 window points at its QP,
// and destroying the QP first leaves it pointing at freed memory, which
// the window's invalidation or deallocation then writes to: the QP counts
// the window as a child (QP.Close: EBUSY) until the window is closed. Not
// before, as no completion may ever say that the window was unbound: an
// invalidate may be flushed, or unsignaled.
func (mw *MW) boundThrough(qp *QP) {
	if !qp.pd.ctx.rxe {
		return
	}
	mw.bindMu.Lock()
	defer mw.bindMu.Unlock()
	mw.bindQP = qp.num
	for _, q := range mw.qps {
		if q == qp {
			return
		}
	}
	qp.children.Add(1)
	mw.qps = append(mw.qps, qp)
}

// qpFailed records, on rxe, that QP num of device failed a request. The
// type 2 binds posted through it since may all be flushed, and a flushed
// bind leaves the window as it was, unbound perhaps, under an rkey that
// a later bind may have named again: the binding could take for bound a
// window that rxe has unbound under the same rkey, and pass an invalidate
// that crashes rxe 6.1. Windows last bound through the QP count as
// unbound (a local invalidate is refused) until bound again.
func qpFailed(device string, num uint32) {
	windows.Lock()
	defer windows.Unlock()
	for k, mw := range windows.m {
		if k.device != device {
			continue
		}
		mw.bindMu.Lock()
		if len(mw.qps) > 0 && mw.bindQP == num {
			mw.unbound = true
		}
		mw.bindMu.Unlock()
	}
}

// Close frees the window (ibv_dealloc_mw), which revokes its access. It
// waits for a post that binds it to return.
func (mw *MW) Close() error {
	if mw == nil {
		return opError("ibv_dealloc_mw", "", ErrClosed)
	}
	err := mw.close(mw.raw.Dealloc)
	if err == nil {
		windows.Lock()
		// A window allocated since may have the index already.
		if windows.m[mw.key] == mw {
			delete(windows.m, mw.key)
			windows.open.Store(int64(len(windows.m)))
		}
		windows.Unlock()
		mw.bound(nil, 0)
		mw.bindMu.Lock()
		for _, qp := range mw.qps {
			qp.children.Add(-1)
		}
		mw.qps = nil
		mw.bindMu.Unlock()
		mw.pd.children.Add(-1)
	}
	return opError("ibv_dealloc_mw", mw.pd.name(), err)
}

// invalidatedWindow returns the type 2 window of this process that wr,
// an invalidate, names, or nil: for WRLocalInv a window on the QP's device;
// for WRSendWithInv one on the device of the QP's peer, when the peer is a
// QP of the same device context (otherwise the rkey is another host's,
// whose windows may have the same indexes).
func (qp *QP) invalidatedWindow(wr *SendWR) *MW {
	mw := windowOf(qp.pd.ctx.Name(), wr.RKey)
	if mw == nil || wr.Opcode == WRSendWithInv && !qp.peerIsLocal() {
		return nil
	}
	return mw
}

// peerIsLocal reports whether the QP's destination is a QP of this
// process on its device: an open QP of the process on the device (in any
// context) has the destination's number, and the QP's address vector
// names this device (its destination GID is one of the device's, or
// without a GRH its destination LID one of a port's). Another host's QPs
// have the same numbers as this one's, its windows the same indexes. When
// the QP's attributes cannot be read, the peer counts as local: its
// invalidate is checked.
func (qp *QP) peerIsLocal() bool {
	a, _, err := qp.raw.Query(int(QPAttrDestQPN | QPAttrAV))
	if err != nil {
		return true
	}
	c := qp.pd.ctx
	qpNums.Lock()
	found := qpNums.m[qpKey{c.name, a.DestQPNum}] > 0
	qpNums.Unlock()
	if !found {
		return false
	}
	// The context lives while its QP does: its raw calls need no hold.
	if !a.AHAttr.IsGlobal {
		for p := 1; p <= c.attr.PhysPortCnt; p++ {
			port, err := c.raw.QueryPort(uint8(p))
			// A port answers the LIDs that differ from its own in the
			// low LMC bits (the path bits).
			if err != nil || port.LID>>port.LMC == a.AHAttr.DLID>>port.LMC {
				return true
			}
		}
		return false
	}
	table, err := c.raw.QueryGIDTable(cgo.MaxGIDEntries)
	if err != nil {
		return true
	}
	for _, e := range table {
		if e.GID == a.AHAttr.GRH.DGID {
			return true
		}
	}
	return false
}

// checkInvalidate refuses a WRLocalInv or WRSendWithInv that names one of
// this process's type 2 windows (invalidatedWindow) by other than its
// current rkey, or while it is not bound, and holds the window open until
// releaseHeld. Besides being invalid, such a request crashes Linux 6.1's
// rxe, which follows a null pointer invalidating a window that is not
// bound. A request that passes marks the window unbound at once, so that
// another QP's invalidate of it is refused meanwhile; windowsPosted undoes
// the mark for a request that was not posted.
func (qp *QP) checkInvalidate(wr *SendWR) error {
	mw := qp.invalidatedWindow(wr)
	if mw == nil {
		return qp.checkForeignInvalidate(wr)
	}
	switch err := qp.hold(&mw.life, true); {
	case errors.Is(err, ErrClosed):
		return qp.checkForeignInvalidate(wr) // freed
	case err != nil:
		return fmt.Errorf("the window of rkey %#x: %w", wr.RKey, err)
	}
	mw.bindMu.Lock()
	defer mw.bindMu.Unlock()
	switch {
	case mw.unbound:
		return fmt.Errorf("rkey %#x: an invalidate of a window that is not bound: %w", wr.RKey, syscall.EINVAL)
	case wr.RKey != mw.rkey:
		return fmt.Errorf("rkey %#x: the window's rkey is %#x: %w", wr.RKey, mw.rkey, syscall.EINVAL)
	}
	mw.unbound = true
	return nil
}

// rxeMinMWIndex is the first index of rxe's windows (Linux 6.1,
// RXE_MIN_MW_INDEX); its regions' are below it.
const rxeMinMWIndex = 1<<19 + 1

// checkForeignInvalidate refuses, on rxe, a WRLocalInv of an rkey in the
// index range of rxe's windows that names no open type 2 window of this
// process: a type 1 window's, a freed window's, or another process's
// window's. rxe invalidates a window by its rkey alone, whatever its PD or
// process, and crashes on one that is not bound.
func (qp *QP) checkForeignInvalidate(wr *SendWR) error {
	if wr.Opcode != WRLocalInv || !qp.pd.ctx.rxe || wr.RKey>>8 < rxeMinMWIndex {
		return nil
	}
	return fmt.Errorf("rkey %#x: names no open type 2 window of this process: %w", wr.RKey, syscall.EINVAL)
}

// notInvalidated undoes checkInvalidate's mark for an invalidate of rkey
// that was not posted.
func (mw *MW) notInvalidated(rkey uint32) {
	mw.bindMu.Lock()
	if mw.rkey == rkey {
		mw.unbound = false
	}
	mw.bindMu.Unlock()
}

// invalidated records a peer's invalidate of the window by rkey, which the
// device carried out: the window is unbound, unless a bind posted since
// gave it another rkey.
func (mw *MW) invalidated(rkey uint32) {
	mw.bindMu.Lock()
	if mw.rkey == rkey {
		mw.unbound = true
	}
	mw.bindMu.Unlock()
}

// IncRKey returns rkey with its low byte, the consumer-owned key, increased
// by one (ibv_inc_rkey): the rkey to bind a window with next.
func IncRKey(rkey uint32) uint32 {
	return rkey&^0xff | (rkey+1)&0xff
}

// BindMW binds the type 1 window mw through the QP (ibv_bind_mw) to grant
// b.Access to b's range of b.MR; a Length of 0 unbinds it (b.MR is still
// required: rxe's provider reads it). The bind is a send request with ID id and flags (SendSignaled for a WCBindMW
// completion), ordered with the QP's other requests. The window takes a new
// rkey (MW.RKey) when the bind is posted. A type 2 window binds through a
// WRBindMW request of PostSend instead. It allocates nothing on success.
func (qp *QP) BindMW(mw *MW, id uint64, flags SendFlags, b MWBind) error {
	const op = "ibv_bind_mw"
	if qp == nil || !qp.acquire() {
		return opError(op, qp.name(), ErrClosed)
	}
	defer qp.release()
	qp.postMu.Lock()
	defer qp.postMu.Unlock()
	defer qp.releaseHeld()
	if mw == nil {
		return opError(op, qp.name(), fmt.Errorf("no memory window: %w", syscall.EINVAL))
	}
	if err := qp.checkFlags(WRBindMW, flags); err != nil {
		return opError(op, qp.name(), err)
	}
	if err := qp.hold(&mw.life, mw.pd != nil); err != nil {
		return opError(op, qp.name(), fmt.Errorf("MW: %w", err))
	}
	if mw.typ != MWType1 {
		return opError(op, qp.name(), fmt.Errorf("a type %d window binds through a WRBindMW request: %w", mw.typ, syscall.EINVAL))
	}
	if qp.typ == QPTypeUD {
		// mlx5 and mlx4 would build the bind as a datagram, through a
		// null AH.
		return opError(op, qp.name(), fmt.Errorf("a bind on a UD QP, which has no windows: %w", syscall.EINVAL))
	}
	if b.MR == nil {
		return opError(op, qp.name(), fmt.Errorf("no memory region: %w", syscall.EINVAL))
	}
	if err := qp.hold(&b.MR.life, b.MR.pd != nil); err != nil {
		return opError(op, qp.name(), fmt.Errorf("MR: %w", err))
	}
	if err := checkWindow(qp, mw, &b); err != nil {
		return opError(op, qp.name(), err)
	}
	if err := qp.raw.BindMW(mw.raw, id, uint32(flags), b.MR.raw, b.Addr, b.Length, int(b.Access)); err != nil {
		return opError(op, qp.name(), err)
	}
	mr := b.MR
	if b.Length == 0 {
		mr = nil
	}
	mw.bound(mr, mw.raw.RKey())
	return nil
}
