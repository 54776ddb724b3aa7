package verbs

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/go-rdma/rdma/cgo"
)

// allQPAttrs selects every attribute ibv_query_qp reports (not the rate
// limit, which providers refuse to query).
const allQPAttrs = QPAttrMask(1<<21 - 1)

// WROpcode is a send work request's operation (enum ibv_wr_opcode).
type WROpcode uint32

// Send opcodes.
const (
	WRRDMAWrite         WROpcode = 0
	WRRDMAWriteWithImm  WROpcode = 1
	WRSend              WROpcode = 2
	WRSendWithImm       WROpcode = 3
	WRRDMARead          WROpcode = 4
	WRAtomicCmpAndSwp   WROpcode = 5
	WRAtomicFetchAndAdd WROpcode = 6
	// WRLocalInv invalidates the local rkey SendWR.RKey (a type 2 window's:
	// the window is unbound and its rkey refused to peers from then on; a
	// region's on providers with fast-registration regions). It takes no
	// entries; its completion is WCLocalInv. On rxe, which invalidates any
	// window by its rkey alone, one of an rkey that names no open type 2
	// window of this process is refused (EINVAL), and so is one of a window
	// last bound through a QP that has since failed a request (once the
	// failed completion is polled) or moved to ERR or RESET, until the
	// window is bound again: its binds may have been flushed. On rxe
	// (Linux 6.1) a local invalidate of a type 2 window that a peer of
	// another process or host has invalidated (WRSendWithInv) follows a
	// null pointer in the kernel: poll the completions that may report
	// the peer's invalidation (WCWithInv) before invalidating locally.
	WRLocalInv WROpcode = 7
	// WRBindMW binds a type 2 memory window (SendWR.MW, SendWR.Bind) to
	// the QP that posts it.
	WRBindMW WROpcode = 8
	// WRSendWithInv sends as WRSend does and invalidates the peer's rkey
	// SendWR.RKey (a type 2 window bound to the receiving QP) before the
	// peer's receive completes; that completion carries WCWithInv and the
	// rkey in its Imm (libsiw reports neither: see WCWithInv). Connected
	// QPs only. The receiver's window is recorded unbound once that
	// completion is polled: from then on a local invalidate of it is
	// refused, as one of a window never bound. An rkey the peer cannot invalidate fails its receive and takes
	// its QP to the error state; rxe (Linux 6.1) acknowledges the send
	// first and then retries the requests after it for ever, without a
	// completion.
	WRSendWithInv WROpcode = 9
)

// SendFlags modify a send work request (enum ibv_send_flags).
type SendFlags uint32

// Send flags.
const (
	SendFence     SendFlags = 1 << 0
	SendSignaled  SendFlags = 1 << 1
	SendSolicited SendFlags = 1 << 2
	SendInline    SendFlags = 1 << 3
)

// knownSendFlags are the flags a request may carry.
const knownSendFlags = SendFence | SendSignaled | SendSolicited | SendInline

// SendWR is a send work request (struct ibv_send_wr).
type SendWR struct {
	ID     uint64
	Opcode WROpcode
	Flags  SendFlags
	// SGL is the local memory the request reads (sends, writes, inline) or
	// writes (reads; atomics: exactly one 8-byte entry for the original
	// remote value; binds: none). Each non-empty entry lies inside an open
	// MR of the QP's PD and names it by its LKey, and of several entries
	// none is empty;
	// EINVAL otherwise. Only sends and RDMA writes carry data inline
	// (SendInline). An inline request's entries are read by the CPU
	// during PostSend (the provider copies them without checking a key),
	// so their MRs must not be at another IOVA than their memory's
	// (RegMRAt). Their length together is at most the QP's MaxInlineData.
	SGL []SGE
	// Imm is the immediate data of the *WithImm opcodes, in host order.
	Imm uint32
	// RemoteAddr and RKey name the peer's memory for RDMA and atomics. For
	// WRBindMW, RKey is the rkey the window takes: its current one with a
	// new low byte, IncRKey(MW.RKey()); for WRLocalInv and WRSendWithInv,
	// the rkey to invalidate, which, for a type 2 window of this process
	// on the QP's device, must be its current one while it is bound.
	RemoteAddr uint64
	RKey       uint32
	// CompareAdd is the value compared (CmpAndSwp) or added (FetchAndAdd);
	// Swap the value written when the comparison matches.
	CompareAdd uint64
	Swap       uint64
	// AH, RemoteQPN and RemoteQKey address the destination of a UD request;
	// AH is required on UD QPs and refused on the others. The AH is held
	// open for the duration of PostSend.
	AH         *AH
	RemoteQPN  uint32
	RemoteQKey uint32
	// MW and Bind are a WRBindMW request's type 2 window and what it binds
	// the window to; they are held open for the duration of PostSend, and
	// refused with the other opcodes. Once posted the window's RKey is the
	// request's, and Bind.MR stays open while the window lives (see MW). A
	// bind that completes with an error leaves the window unusable on rxe,
	// whose provider names it by that rkey in the next bind: close it.
	MW   *MW
	Bind MWBind
}

// RecvWR is a receive work request (struct ibv_recv_wr).
type RecvWR struct {
	ID  uint64
	SGL []SGE
}

// PostError reports a post that the provider (or validation) refused at
// work request Index: the requests before it were posted, the rest were not.
type PostError struct {
	Op    string
	Index int
	Err   error
}

// Error formats the operation, the failing request's index and the cause.
func (e *PostError) Error() string {
	return fmt.Sprintf("verbs: %s: work request %d: %v", e.Op, e.Index, e.Err)
}

// Unwrap returns the cause.
func (e *PostError) Unwrap() error { return e.Err }

// PostSend posts wrs as chains of up to the QP's batch, one call into
// libibverbs per chain. It allocates nothing on success. A request that
// fails validation is reported as a *PostError like one the provider
// refuses: the requests before it are posted. Validation refuses an unknown
// opcode or flag (and on siw a fenced RDMA read); too many SGEs, or an empty
// one among several; an entry outside the open region of the QP's PD its
// lkey names; an atomic without exactly one 8-byte entry; a bind or a local
// invalidate with entries or inline; inline data on other than a send or an
// RDMA write; on a UD QP anything but a send (with or without immediate
// data), or no AH; an AH on another QP type; on a UC QP an RDMA read or an
// atomic; a missing or closed AH, MW or MR, or one of another device
// context (an AH, window or region of another PD than the QP's); inline
// entries over the QP's MaxInlineData or in a region at another IOVA, or,
// on a QP created with SignalAll, an RDMA read's or atomic's entries there
// (see RegMRAt); a bind whose rkey is not IncRKey's of the window's; an
// invalidate (WRLocalInv; WRSendWithInv to a QP of the same context) of a
// type 2 window of this process that is not bound, or by another rkey than
// the window's. A post that uses an AH, MW or MR while it is being closed
// or changed (MR.Rereg) fails with EAGAIN instead of waiting for it: the
// requests before it are posted. On IB and RoCE, a post to a QP that has
// not reached RTS fails with ErrNotReady, nothing posted. wrs, their
// entries included, must not change while PostSend reads them (that is a
// data race): it checks each request and then hands it over.
func (qp *QP) PostSend(wrs []SendWR) error {
	const op = "ibv_post_send"
	if qp == nil || !qp.acquire() {
		return opError(op, qp.name(), ErrClosed)
	}
	defer qp.release()
	if len(wrs) == 0 {
		return &PostError{Op: op, Err: fmt.Errorf("no work requests: %w", syscall.EINVAL)}
	}
	qp.postMu.Lock()
	defer qp.postMu.Unlock()
	batch, maxSGE, _ := qp.raw.Batch()
	for base := 0; base < len(wrs); {
		chain := wrs[base:min(base+batch, len(wrs))]
		var regions regionCache
		n, invalid, windowOps := len(chain), error(nil), false
		for i := range chain {
			wr := &chain[i]
			if wr.Opcode == WRBindMW && rebinds(chain[:i], wr.MW) || invalidates(wr) && qp.windowChanges(chain[:i], wr) {
				// The provider names the window by the rkey of its last
				// bind, and checkInvalidate the window by its state, both
				// recorded once the requests before are posted: the chain
				// ends before this one.
				n = i
				break
			}
			if invalid = qp.checkSend(wr, maxSGE, &regions); invalid != nil {
				n = i
				break
			}
			raw := wr.raw()
			windowOps = windowOps || invalidates(wr)
			if wr.Opcode == WRBindMW {
				windowOps = true
				raw.MW, raw.BindMR = wr.MW.raw, wr.Bind.MR.raw
				raw.BindAddr, raw.BindLength, raw.BindAccess = wr.Bind.Addr, wr.Bind.Length, uint32(wr.Bind.Access)
			}
			qp.raw.SetSend(i, &raw, wr.SGL)
		}
		var bad int
		var err error
		if n > 0 {
			bad, err = qp.raw.PostSend(n)
		}
		if windowOps {
			posted := n
			if err != nil {
				posted = bad
			}
			qp.windowsPosted(chain[:n], posted)
		}
		qp.releaseHeld()
		switch {
		case err != nil:
			return &PostError{Op: op, Index: base + bad, Err: err}
		case invalid != nil:
			return &PostError{Op: op, Index: base + n, Err: invalid}
		}
		base += n
	}
	return nil
}

// windowsPosted records the binds of the first posted requests of
// checked, and undoes checkInvalidate's mark for the invalidates after them.
func (qp *QP) windowsPosted(checked []SendWR, posted int) {
	for i := range checked {
		switch wr := &checked[i]; {
		case wr.Opcode == WRBindMW && i < posted:
			wr.MW.raw.SetRKey(wr.RKey)
			wr.MW.bound(wr.Bind.MR, wr.RKey)
			wr.MW.boundThrough(qp)
		case invalidates(wr) && i >= posted:
			if mw := qp.invalidatedWindow(wr); mw != nil {
				mw.notInvalidated(wr.RKey)
			}
		}
	}
}

// invalidates tells whether wr invalidates an rkey.
func invalidates(wr *SendWR) bool { return wr.Opcode == WRLocalInv || wr.Opcode == WRSendWithInv }

// windowChanges tells whether chain binds or invalidates the type 2 window
// of this process that inv, an invalidate, names.
func (qp *QP) windowChanges(chain []SendWR, inv *SendWR) bool {
	mw := qp.invalidatedWindow(inv)
	if mw == nil {
		return false
	}
	// An earlier invalidate of the same index may name another host's
	// window: a needless end of the chain, not a query of the QP each.
	for i := range chain {
		if wr := &chain[i]; wr.Opcode == WRBindMW && wr.MW == mw || invalidates(wr) && wr.RKey>>8 == inv.RKey>>8 {
			return true
		}
	}
	return false
}

// rebinds tells whether chain binds mw.
func rebinds(chain []SendWR, mw *MW) bool {
	for i := range chain {
		if chain[i].Opcode == WRBindMW && chain[i].MW == mw {
			return true
		}
	}
	return false
}

// raw is wr for the C side, but for a bind request's window and region.
func (wr *SendWR) raw() cgo.SendWR {
	raw := cgo.SendWR{
		ID: wr.ID, RemoteAddr: wr.RemoteAddr, CompareAdd: wr.CompareAdd, Swap: wr.Swap,
		Opcode: uint32(wr.Opcode), Flags: uint32(wr.Flags), Imm: wr.Imm, RKey: wr.RKey,
		RemoteQPN: wr.RemoteQPN, RemoteQKey: wr.RemoteQKey,
	}
	if wr.AH != nil {
		raw.AH = wr.AH.raw
	}
	return raw
}

// checkSend validates wr for the QP and holds its AH, MW and MR open until
// releaseHeld; regions remembers the region of the post's last entry. An
// invalidate's window is checked last: a window that passes is marked.
func (qp *QP) checkSend(wr *SendWR, maxSGE int, regions *regionCache) error {
	if err := qp.checkRequest(wr, maxSGE, regions); err != nil {
		return err
	}
	if invalidates(wr) {
		return qp.checkInvalidate(wr)
	}
	return nil
}

// checkRequest is checkSend but for the invalidated window.
func (qp *QP) checkRequest(wr *SendWR, maxSGE int, regions *regionCache) error {
	if len(wr.SGL) > maxSGE {
		return fmt.Errorf("%d SGEs, the QP takes %d: %w", len(wr.SGL), maxSGE, syscall.EINVAL)
	}
	if err := qp.checkFlags(wr.Opcode, wr.Flags); err != nil {
		return err
	}
	if err := checkEmptySGE(wr.SGL); err != nil {
		return err
	}
	if wr.Flags&SendInline == 0 {
		if err := regions.entries(qp.pd, wr.SGL, qp.cpuResult(wr.Opcode)); err != nil {
			return err
		}
	}
	switch wr.Opcode {
	case WRRDMAWrite, WRRDMAWriteWithImm, WRSend, WRSendWithImm, WRRDMARead, WRBindMW, WRSendWithInv:
	case WRLocalInv:
		if len(wr.SGL) > 0 || wr.Flags&SendInline != 0 {
			return fmt.Errorf("a local invalidate with entries or inline: %w", syscall.EINVAL)
		}
	case WRAtomicCmpAndSwp, WRAtomicFetchAndAdd:
		// Providers write the 8-byte original value whatever the entry's
		// length says.
		if len(wr.SGL) != 1 || wr.SGL[0].Length != 8 {
			return fmt.Errorf("an atomic takes one 8-byte entry: %w", syscall.EINVAL)
		}
	default:
		return fmt.Errorf("opcode %d: %w", wr.Opcode, syscall.EINVAL)
	}
	if wr.Opcode == WRBindMW {
		if len(wr.SGL) > 0 || wr.Flags&SendInline != 0 {
			// Providers would take the entries as the bind's data.
			return fmt.Errorf("a bind request with entries or inline: %w", syscall.EINVAL)
		}
		if err := qp.checkBind(wr); err != nil {
			return err
		}
	} else if wr.MW != nil || wr.Bind.MR != nil {
		return fmt.Errorf("MW or Bind set on a request of opcode %d: %w", wr.Opcode, syscall.EINVAL)
	}
	if wr.Flags&SendInline != 0 && wr.Opcode != WRBindMW {
		if !carriesInline(wr.Opcode) {
			return errInlineOpcode(wr.Opcode)
		}
		if err := qp.checkInline(wr.SGL); err != nil {
			return err
		}
	}
	if qp.typ != QPTypeUD {
		if wr.AH != nil {
			return fmt.Errorf("an AH on a %v QP: %w", qp.typ, syscall.EINVAL)
		}
		if qp.typ == QPTypeUC && !ucOpcode(wr.Opcode) {
			return fmt.Errorf("opcode %d on a UC QP, which has no RDMA reads or atomics: %w", wr.Opcode, syscall.EINVAL)
		}
		return nil
	}
	// A UD request's address fields share memory with the remote address
	// of RDMA and atomic requests: only sends go over UD.
	if wr.Opcode != WRSend && wr.Opcode != WRSendWithImm {
		return fmt.Errorf("opcode %d on a UD QP, which only sends: %w", wr.Opcode, syscall.EINVAL)
	}
	if wr.AH == nil {
		return fmt.Errorf("UD request without an AH: %w", syscall.EINVAL)
	}
	if err := qp.hold(&wr.AH.life, wr.AH.pd != nil); err != nil {
		return fmt.Errorf("AH: %w", err)
	}
	if wr.AH.pd != qp.pd {
		// rxe fails the request and the QP; mlx5 sends it.
		return fmt.Errorf("an AH of another PD: %w", syscall.EINVAL)
	}
	return nil
}

// ucOpcode tells whether a UC QP takes requests of op: not RDMA reads or
// atomics, which UC does not have (rxe fails the request and the QP,
// mlx5 builds a malformed one).
func ucOpcode(op WROpcode) bool {
	switch op {
	case WRRDMARead, WRAtomicCmpAndSwp, WRAtomicFetchAndAdd:
		return false
	}
	return true
}

// checkFlags refuses unknown flags, and on siw a fenced RDMA read, which
// it refuses with EIO as the QP's send queue stops for good.
func (qp *QP) checkFlags(op WROpcode, flags SendFlags) error {
	if flags&^knownSendFlags != 0 {
		return fmt.Errorf("unknown flags %#x: %w", uint32(flags), syscall.EINVAL)
	}
	if op == WRRDMARead && flags&SendFence != 0 && qp.pd.ctx.siw {
		return fmt.Errorf("siw stops its send queue for a fenced RDMA read: %w", syscall.EINVAL)
	}
	return nil
}

// checkEmptySGE refuses an empty entry among several: siw (Linux 6.1)
// follows a null pointer sending one that a non-empty entry follows.
func checkEmptySGE(sgl []SGE) error {
	if len(sgl) < 2 {
		return nil
	}
	for j := range sgl {
		if sgl[j].Length == 0 {
			return fmt.Errorf("SGE %d of %d is empty (only a lone entry may be): %w", j, len(sgl), syscall.EINVAL)
		}
	}
	return nil
}

// regionCache checks entries against a PD's open regions for one post,
// remembering the last region it found by its lkey and bounds.
type regionCache struct {
	lkey       uint32
	base, size uint64
	atIOVA     bool // the region is at another IOVA than its memory's address (RegMRAt)
	known      bool
}

// entries refuses an entry of sgl that does not lie inside an open region
// of pd named by its lkey (empty entries name none) and, if cpu, one in a
// region at another IOVA than its memory's address: providers read and
// write some entries with the CPU (mlx5 copies small received messages into
// the receive's entries, and, on a QP whose requests all complete, small
// RDMA read and atomic results into theirs), at the address the entry
// names, and siw neither executes nor completes a request naming a region
// of another PD.
func (c *regionCache) entries(pd *PD, sgl []SGE, cpu bool) error {
	for j := range sgl {
		if err := c.entry(pd, sgl[j], cpu); err != nil {
			return fmt.Errorf("SGE %d: %w", j, err)
		}
	}
	return nil
}

func (c *regionCache) entry(pd *PD, sge SGE, cpu bool) error {
	if sge.Length == 0 {
		return nil
	}
	if !c.known || sge.LKey != c.lkey {
		mr := pd.mrOf(sge.LKey)
		if mr == nil {
			return errNoRegion(sge.LKey)
		}
		switch err := mr.tryAcquire(); {
		case errors.Is(err, ErrClosed):
			return errNoRegion(sge.LKey)
		case err != nil:
			return fmt.Errorf("the region of lkey %#x: %w", sge.LKey, err)
		}
		c.lkey, c.base, c.size, c.atIOVA, c.known = mr.lkey, mr.base, uint64(len(mr.mem)), mr.atIOVA(), true
		mr.release()
		if c.lkey != sge.LKey {
			c.known = false
			return errNoRegion(sge.LKey)
		}
	}
	if cpu && c.atIOVA {
		return errAtIOVA(c.base)
	}
	if sge.Addr < c.base || sge.Addr-c.base > c.size || uint64(sge.Length) > c.size-(sge.Addr-c.base) {
		return fmt.Errorf("[%#x, +%d) outside its region [%#x, +%d): %w", sge.Addr, sge.Length, c.base, c.size, syscall.EINVAL)
	}
	return nil
}

// cpuResult tells whether the provider may write the result of the QP's
// requests of op into their entries with the CPU: mlx5 copies small RDMA
// read and atomic results on a QP whose requests all complete.
func (qp *QP) cpuResult(op WROpcode) bool {
	return qp.signalAll && (op == WRRDMARead || op == WRAtomicCmpAndSwp || op == WRAtomicFetchAndAdd)
}

// errAtIOVA is the error of an entry the provider may write with the CPU
// in a region at another IOVA than its memory's address.
func errAtIOVA(iova uint64) error {
	return fmt.Errorf("a region at IOVA %#x, not its memory's address, which the provider may write with the CPU: %w", iova, syscall.EINVAL)
}

// carriesInline tells whether requests of op may carry their data inline:
// sends and RDMA writes (siw loses an inline RDMA read posted with
// another request).
func carriesInline(op WROpcode) bool {
	switch op {
	case WRSend, WRSendWithImm, WRSendWithInv, WRRDMAWrite, WRRDMAWriteWithImm:
		return true
	}
	return false
}

func errInlineOpcode(op WROpcode) error {
	return fmt.Errorf("inline data on opcode %d: only sends and RDMA writes carry it: %w", op, syscall.EINVAL)
}

// checkInline validates the entries of an inline request, whose data the
// provider copies from their addresses itself: together at most the QP's
// inline size, each inside an open region of the QP's PD, held open until
// releaseHeld.
func (qp *QP) checkInline(sgl []SGE) error {
	var total uint64
	for _, sge := range sgl {
		total += uint64(sge.Length)
	}
	if total > uint64(qp.cap.MaxInlineData) {
		return fmt.Errorf("%d bytes inline, the QP takes %d: %w", total, qp.cap.MaxInlineData, syscall.EINVAL)
	}
	for j, sge := range sgl {
		if sge.Length == 0 {
			continue
		}
		mr, err := qp.heldRegion(sge)
		if err == nil {
			err = mr.inlineFrom()
		}
		if err != nil {
			return fmt.Errorf("inline SGE %d: %w", j, err)
		}
	}
	return nil
}

// heldRegion returns the region of the QP's PD sge lies in, held open until
// releaseHeld.
func (qp *QP) heldRegion(sge SGE) (*MR, error) {
	mr := qp.pd.mrOf(sge.LKey)
	if mr == nil {
		return nil, errNoRegion(sge.LKey)
	}
	switch err := qp.hold(&mr.life, true); {
	case errors.Is(err, ErrClosed):
		return nil, errNoRegion(sge.LKey)
	case err != nil:
		return nil, fmt.Errorf("the region of lkey %#x: %w", sge.LKey, err)
	}
	return mr, mr.contains(sge)
}

// checkBind validates a WRBindMW request and holds its window and region.
func (qp *QP) checkBind(wr *SendWR) error {
	if wr.MW == nil || wr.Bind.MR == nil {
		return fmt.Errorf("bind request without an MW and an MR: %w", syscall.EINVAL)
	}
	if err := qp.hold(&wr.MW.life, wr.MW.pd != nil); err != nil {
		return fmt.Errorf("MW: %w", err)
	}
	if wr.MW.typ != MWType2 {
		return fmt.Errorf("a type %d window binds through QP.BindMW: %w", wr.MW.typ, syscall.EINVAL)
	}
	// The device takes the rkey's low byte, the key, only: a bind that
	// failed as it ran would leave the window free under its current rkey.
	if cur := wr.MW.RKey(); wr.RKey>>8 != cur>>8 || wr.RKey == cur {
		return fmt.Errorf("rkey %#x for a window of rkey %#x: the same index and a new key, IncRKey: %w", wr.RKey, cur, syscall.EINVAL)
	}
	if err := qp.hold(&wr.Bind.MR.life, wr.Bind.MR.pd != nil); err != nil {
		return fmt.Errorf("MR: %w", err)
	}
	return checkWindow(qp, wr.MW, &wr.Bind)
}

// checkWindow checks that a window, the region it binds to (held open)
// and the QP that binds it belong together: all three of one PD (on the
// QP's device context: the provider takes each for its own type), and the
// window's range, unless it unbinds, inside the region.
func checkWindow(qp *QP, mw *MW, b *MWBind) error {
	if mw.pd.ctx != qp.pd.ctx {
		return fmt.Errorf("an MW of another device context: %w", syscall.EINVAL)
	}
	if mw.pd != qp.pd || b.MR.pd != mw.pd {
		return fmt.Errorf("an MW or MR of another PD than the QP's: %w", syscall.EINVAL)
	}
	base, size := b.MR.base, uint64(len(b.MR.mem))
	if b.Length > 0 && (b.Addr < base || b.Addr-base > size || b.Length > size-(b.Addr-base)) {
		return fmt.Errorf("window [%#x, +%d) outside its region [%#x, +%d): %w", b.Addr, b.Length, base, size, syscall.EINVAL)
	}
	return nil
}

// hold holds l, the life of an object a post uses, open until releaseHeld:
// ErrClosed when it is closed (or, !valid, was never opened), errBusy
// (EAGAIN) while a Close or another exclusive call is under way on it.
func (qp *QP) hold(l *life, valid bool) error {
	for _, h := range qp.held {
		if h == l {
			return nil
		}
	}
	if !valid {
		return ErrClosed
	}
	if err := l.tryAcquire(); err != nil {
		return err
	}
	qp.held = append(qp.held, l)
	return nil
}

func (qp *QP) releaseHeld() {
	for i, l := range qp.held {
		l.release()
		qp.held[i] = nil
	}
	qp.held = qp.held[:0]
}

// PostRecv posts wrs as chains of up to the QP's batch, one call into
// libibverbs per chain. It allocates nothing on success. Each non-empty
// entry must lie inside an open region of the QP's PD, named by its LKey,
// at its memory's own address (not a RegMRAt region at another IOVA)
// (EINVAL otherwise, as a *PostError); the region must stay open, and its
// Buffer mapped, while the receive is outstanding. A QP created with
// an SRQ takes no receive requests of its own (EINVAL): post to the SRQ.
// On IB and RoCE, a post to a QP in RESET fails with ErrNotReady.
func (qp *QP) PostRecv(wrs []RecvWR) error {
	const op = "ibv_post_recv"
	if qp == nil || !qp.acquire() {
		return opError(op, qp.name(), ErrClosed)
	}
	defer qp.release()
	if qp.srq != nil {
		return &PostError{Op: op, Err: fmt.Errorf("the QP receives through its SRQ: %w", syscall.EINVAL)}
	}
	qp.postMu.Lock()
	defer qp.postMu.Unlock()
	batch, _, maxSGE := qp.raw.Batch()
	return postRecv(op, qp.pd, qp.raw, batch, maxSGE, wrs)
}

// recvPoster is a raw QP or SRQ.
type recvPoster interface {
	SetRecv(i int, id uint64, sgl []SGE)
	PostRecv(n int) (int, error)
}

// postRecv posts wrs to raw, a queue of pd, in chains of batch, the
// requests before an invalid one included.
func postRecv[R recvPoster](op string, pd *PD, raw R, batch, maxSGE int, wrs []RecvWR) error {
	if len(wrs) == 0 {
		return &PostError{Op: op, Err: fmt.Errorf("no work requests: %w", syscall.EINVAL)}
	}
	var regions regionCache
	for base := 0; base < len(wrs); base += batch {
		chain := wrs[base:min(base+batch, len(wrs))]
		n, invalid := len(chain), error(nil)
		for i := range chain {
			if len(chain[i].SGL) > maxSGE {
				invalid = fmt.Errorf("%d SGEs, the queue takes %d: %w", len(chain[i].SGL), maxSGE, syscall.EINVAL)
			} else {
				invalid = regions.entries(pd, chain[i].SGL, true)
			}
			if invalid != nil {
				n = i
				break
			}
			raw.SetRecv(i, chain[i].ID, chain[i].SGL)
		}
		if n > 0 {
			if bad, err := raw.PostRecv(n); err != nil {
				return &PostError{Op: op, Index: base + bad, Err: err}
			}
		}
		if invalid != nil {
			return &PostError{Op: op, Index: base + n, Err: invalid}
		}
	}
	return nil
}
