package verbs

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"github.com/go-rdma/rdma/cgo"
	"github.com/go-rdma/rdma/internal/rawqp"
)

// QPType is a queue pair's transport service (enum ibv_qp_type).
type QPType int

// QP types.
const (
	QPTypeRC QPType = 2
	QPTypeUC QPType = 3
	QPTypeUD QPType = 4
)

// String returns the service's name: "RC", "UC", "UD".
func (t QPType) String() string {
	switch t {
	case QPTypeRC:
		return "RC"
	case QPTypeUC:
		return "UC"
	case QPTypeUD:
		return "UD"
	}
	return fmt.Sprintf("QP type %d", int(t))
}

// QPState is a queue pair's state (enum ibv_qp_state).
type QPState int

// QP states.
const (
	QPStateReset QPState = 0
	QPStateInit  QPState = 1
	QPStateRTR   QPState = 2
	QPStateRTS   QPState = 3
	QPStateSQD   QPState = 4
	QPStateSQE   QPState = 5
	QPStateErr   QPState = 6
)

// String returns the state's name as in IBV_QPS_*: "RESET", "RTS", ….
func (s QPState) String() string {
	names := [...]string{"RESET", "INIT", "RTR", "RTS", "SQD", "SQE", "ERR"}
	if s >= 0 && int(s) < len(names) {
		return names[s]
	}
	return fmt.Sprintf("QP state %d", int(s))
}

// QP attributes and their parts, as ibv_modify_qp and ibv_query_qp take them.
type (
	// QPAttr holds queue pair attributes (struct ibv_qp_attr); State and
	// CurState hold QPState values, AccessFlags Access values.
	QPAttr = cgo.QPAttr
	// QPCap holds a queue pair's work request and SGE limits.
	QPCap = cgo.QPCap
	// AHAttr is an address vector (struct ibv_ah_attr).
	AHAttr = cgo.AHAttr
	// GlobalRoute is an address vector's GRH part (RoCE, routed IB).
	GlobalRoute = cgo.GlobalRoute
	// SGE is a scatter/gather entry: a piece of a registered memory region.
	SGE = cgo.SGE
	// ECE is a QP's Enhanced Connection Establishment options (struct
	// ibv_ece): vendor features two QPs agree on while connecting.
	ECE = cgo.ECE
)

// QPAttrMask selects the QPAttr fields QP.Modify applies (enum ibv_qp_attr_mask).
type QPAttrMask int

// QP attribute mask bits.
const (
	QPAttrState            QPAttrMask = 1 << 0
	QPAttrCurState         QPAttrMask = 1 << 1
	QPAttrEnSQDAsyncNotify QPAttrMask = 1 << 2
	QPAttrAccessFlags      QPAttrMask = 1 << 3
	QPAttrPKeyIndex        QPAttrMask = 1 << 4
	QPAttrPort             QPAttrMask = 1 << 5
	QPAttrQKey             QPAttrMask = 1 << 6
	QPAttrAV               QPAttrMask = 1 << 7
	QPAttrPathMTU          QPAttrMask = 1 << 8
	QPAttrTimeout          QPAttrMask = 1 << 9
	QPAttrRetryCnt         QPAttrMask = 1 << 10
	QPAttrRNRRetry         QPAttrMask = 1 << 11
	QPAttrRQPSN            QPAttrMask = 1 << 12
	QPAttrMaxQPRdAtomic    QPAttrMask = 1 << 13
	QPAttrAltPath          QPAttrMask = 1 << 14
	QPAttrMinRNRTimer      QPAttrMask = 1 << 15
	QPAttrSQPSN            QPAttrMask = 1 << 16
	QPAttrMaxDestRdAtomic  QPAttrMask = 1 << 17
	QPAttrPathMigState     QPAttrMask = 1 << 18
	QPAttrCap              QPAttrMask = 1 << 19
	QPAttrDestQPN          QPAttrMask = 1 << 20
	QPAttrRateLimit        QPAttrMask = 1 << 25
)

// QPInitAttr describes a queue pair to create.
type QPInitAttr struct {
	Type   QPType
	SendCQ *CQ
	RecvCQ *CQ
	// SRQ, when set, is the shared receive queue the QP takes its receive
	// requests from; it stays open (Close: EBUSY) while the QP lives.
	SRQ *SRQ
	Cap QPCap
	// SignalAll makes every send request generate a completion; otherwise
	// only those posted with SendSignaled do.
	SignalAll bool
	// Batch bounds the work requests handed to the provider in one call;
	// longer lists are posted in several (default: the larger of MaxSendWR
	// and MaxRecvWR, at most 64; never more than MaxBatch).
	Batch int
}

// MaxBatch is the largest Batch a QP or SRQ takes.
const MaxBatch = cgo.MaxBatch

// QP is a queue pair (struct ibv_qp).
type QP struct {
	life
	pd             *PD
	sendCQ, recvCQ *CQ
	srq            *SRQ
	raw            cgo.QP
	typ            QPType
	cap            QPCap
	num            uint32
	signalAll      bool        // every send request completes (QPInitAttr.SignalAll)
	postMu         sync.Mutex  // serializes use of the raw QP's post scratch and held
	held           []*life     // AHs, MWs and MRs held open by the post in progress
	moved          atomic.Bool // the last Modify that set the state took the QP out of RESET

	mcastMu sync.Mutex
	mcast   map[mcastGroup]int // attachments per group (AttachMulticast less DetachMulticast), detached by Close
}

// mcastGroup is a multicast group a QP is attached to.
type mcastGroup struct {
	gid GID
	lid uint16
}

// CreateQP creates a queue pair (ibv_create_qp) of type RC, UC or UD (other
// types: EINVAL). Cap comes back from the provider possibly larger; QP.Cap
// reports it.
func (pd *PD) CreateQP(attr *QPInitAttr) (*QP, error) {
	var qp *QP
	err := pd.use("ibv_create_qp", func(raw cgo.PD) error {
		if attr == nil || attr.SendCQ == nil || attr.RecvCQ == nil {
			return fmt.Errorf("QPInitAttr with send and receive CQs required: %w", syscall.EINVAL)
		}
		if attr.Type != QPTypeRC && attr.Type != QPTypeUC && attr.Type != QPTypeUD {
			// Other types (raw packet, XRC) take requests this package
			// does not check.
			return fmt.Errorf("QP type %d: RC, UC or UD: %w", attr.Type, syscall.EINVAL)
		}
		if attr.Batch < 0 || attr.Batch > MaxBatch {
			return fmt.Errorf("batch %d outside [0, %d]: %w", attr.Batch, MaxBatch, syscall.EINVAL)
		}
		if attr.SendCQ.ctx == nil || attr.RecvCQ.ctx == nil || attr.SRQ != nil && attr.SRQ.pd == nil {
			return fmt.Errorf("CQ or SRQ: %w", ErrClosed) // zero values
		}
		if attr.SendCQ.ctx != pd.ctx || attr.RecvCQ.ctx != pd.ctx || attr.SRQ != nil && attr.SRQ.pd.ctx != pd.ctx {
			return fmt.Errorf("CQ or SRQ of another device context: %w", syscall.EINVAL)
		}
		batch := attr.Batch
		if batch == 0 {
			batch = min(max(int(attr.Cap.MaxSendWR), int(attr.Cap.MaxRecvWR), 1), 64)
		}
		// The CQs (and SRQ) stay open while the QP lives. A CQ used for
		// both queues is held once: a second read lock would wait behind
		// a Close waiting for the first.
		deps := []*life{&attr.SendCQ.life}
		if attr.RecvCQ != attr.SendCQ {
			deps = append(deps, &attr.RecvCQ.life)
		}
		if attr.SRQ != nil {
			deps = append(deps, &attr.SRQ.life)
		}
		// In one order, the objects' addresses, whatever the caller's: two
		// calls taking two CQs in opposite orders would each wait behind a
		// Close of the CQ the other holds.
		slices.SortFunc(deps, func(a, b *life) int { return cmp.Compare(uintptr(unsafe.Pointer(a)), uintptr(unsafe.Pointer(b))) })
		for i, d := range deps {
			if !d.acquire() {
				for _, held := range deps[:i] {
					held.release()
				}
				return fmt.Errorf("CQ or SRQ: %w", ErrClosed)
			}
		}
		defer func() {
			for _, d := range deps {
				d.release()
			}
		}()
		init := cgo.QPInit{
			Type:      int(attr.Type),
			SendCQ:    attr.SendCQ.raw,
			RecvCQ:    attr.RecvCQ.raw,
			Cap:       attr.Cap,
			SignalAll: attr.SignalAll,
		}
		if attr.SRQ != nil {
			init.SRQ = attr.SRQ.raw
		}
		r, got, err := raw.CreateQP(init, batch)
		if err != nil {
			return err
		}
		qp = &QP{life: born(), pd: pd, sendCQ: attr.SendCQ, recvCQ: attr.RecvCQ, srq: attr.SRQ, raw: r, typ: attr.Type, cap: got,
			num: r.Num(), signalAll: attr.SignalAll, held: make([]*life, 0, 2*batch)}
		attr.SendCQ.children.Add(1)
		attr.RecvCQ.children.Add(1)
		if attr.SRQ != nil {
			attr.SRQ.children.Add(1)
		}
		pd.children.Add(1)
		pd.ctx.register(r.ID(), qp)
		countQP(qp, 1)
		return nil
	})
	return qp, err
}

// Num is the QP number a peer addresses.
func (qp *QP) Num() uint32 {
	if qp == nil {
		return 0
	}
	return qp.num
}

// Type is the QP's transport service (0 for a nil QP).
func (qp *QP) Type() QPType {
	if qp == nil {
		return 0
	}
	return qp.typ
}

// Cap is the QP's capabilities as the provider granted them.
func (qp *QP) Cap() QPCap {
	if qp == nil {
		return QPCap{}
	}
	return qp.cap
}

// PD returns the protection domain the QP was created in.
func (qp *QP) PD() *PD {
	if qp == nil {
		return nil
	}
	return qp.pd
}

// SRQ returns the shared receive queue the QP receives from, or nil.
func (qp *QP) SRQ() *SRQ {
	if qp == nil {
		return nil
	}
	return qp.srq
}

// Close destroys the QP (ibv_destroy_qp). libibverbs waits for the QP's
// asynchronous events to be acknowledged, which Context.Events does at once.
// A QP with open SendLists or RecvLists refuses to close (EBUSY).
func (qp *QP) Close() error {
	if qp == nil {
		return opError("ibv_destroy_qp", "", ErrClosed)
	}
	err := qp.close(func() error {
		// Destroyed even if a detach failed (the device going away, say):
		// the kernel decides.
		detached := qp.detachAll()
		if err := unregistered(qp.pd.ctx, qp.raw.ID(), qp, qp.raw.Destroy); err != nil {
			return errors.Join(detached, err)
		}
		return nil
	})
	if err != nil {
		return opError("ibv_destroy_qp", qp.name(), err)
	}
	countQP(qp, -1)
	qp.pd.children.Add(-1)
	qp.sendCQ.children.Add(-1)
	qp.recvCQ.children.Add(-1)
	if qp.srq != nil {
		qp.srq.children.Add(-1)
	}
	return nil
}

func (qp *QP) name() string {
	if qp == nil {
		return ""
	}
	return fmt.Sprintf("%s QP %d", qp.pd.name(), qp.num)
}

func (qp *QP) use(op string, f func(cgo.QP) error) error {
	if qp == nil || !qp.acquire() {
		return opError(op, qp.name(), ErrClosed)
	}
	defer qp.release()
	if err := f(qp.raw); err != nil {
		return opError(op, qp.name(), err)
	}
	return nil
}

func init() {
	rawqp.Acquire = func(q any, op string) (cgo.QP, error) {
		qp, _ := q.(*QP)
		if qp == nil || !qp.acquire() {
			return cgo.QP{}, opError(op, qp.name(), ErrClosed)
		}
		return qp.raw, nil
	}
	rawqp.Release = func(q any, op string, moved bool, err error) error {
		qp := q.(*QP)
		if moved {
			qp.moved.Store(true)
		}
		qp.release()
		if err != nil {
			return opError(op, qp.name(), err)
		}
		return nil
	}
}

// Modify applies the attributes selected by mask (ibv_modify_qp). A
// selected attribute out of the range of its field in the IB specification
// is refused (EINVAL) before the provider sees it: a state other than
// RESET … ERR, a path MTU other than MTU256 … MTU4096 (rxe takes 0 and
// computes with a packet size of -1), a path migration state above 2, a
// timeout or minimal RNR timer above 31, a retry count above 7. On rxe,
// QPAttrMaxDestRdAtomic is refused (EINVAL) but with a move to RTR: rxe
// (Linux 6.1) frees and reallocates its responder's read and atomic
// resources while the packets that arrive meanwhile use them.
func (qp *QP) Modify(attr *QPAttr, mask QPAttrMask) error {
	return qp.use("ibv_modify_qp", func(raw cgo.QP) error {
		if attr == nil {
			return fmt.Errorf("nil QPAttr: %w", syscall.EINVAL)
		}
		if err := checkQPAttr(attr, mask); err != nil {
			return err
		}
		if qp.pd.ctx.rxe && mask&QPAttrMaxDestRdAtomic != 0 && (mask&QPAttrState == 0 || QPState(attr.State) != QPStateRTR) {
			return fmt.Errorf("max_dest_rd_atomic without a move to RTR, which rxe would apply under packets in flight: %w", syscall.EINVAL)
		}
		if err := raw.Modify(attr, int(mask)); err != nil {
			return err
		}
		if mask&QPAttrState != 0 {
			qp.moved.Store(QPState(attr.State) != QPStateReset)
			if st := QPState(attr.State); qp.pd.ctx.rxe && (st == QPStateErr || st == QPStateReset) {
				// Binds still queued are flushed, or dropped.
				qpFailed(qp.pd.ctx.name, qp.num)
			}
		}
		return nil
	})
}

// checkQPAttr refuses an attribute selected by mask out of its field's
// range.
func checkQPAttr(a *QPAttr, mask QPAttrMask) error {
	fields := []struct {
		bit        QPAttrMask
		name       string
		value, max int
	}{
		{QPAttrState, "state", a.State, int(QPStateErr)},
		{QPAttrCurState, "current state", a.CurState, int(QPStateErr)},
		{QPAttrPathMTU, "path MTU", int(a.PathMTU), int(MTU4096)},
		{QPAttrPathMigState, "path migration state", a.PathMigState, 2},
		{QPAttrTimeout, "timeout", int(a.Timeout), 31},
		{QPAttrAltPath, "alternate path's timeout", int(a.AltTimeout), 31},
		{QPAttrMinRNRTimer, "minimal RNR timer", int(a.MinRNRTimer), 31},
		{QPAttrRetryCnt, "retry count", int(a.RetryCnt), 7},
		{QPAttrRNRRetry, "RNR retry count", int(a.RNRRetry), 7},
	}
	for _, f := range fields {
		if mask&f.bit == 0 {
			continue
		}
		low := 0
		if f.bit == QPAttrPathMTU {
			low = int(MTU256)
		}
		if f.value < low || f.value > f.max {
			return fmt.Errorf("%s %d, not in %d … %d: %w", f.name, f.value, low, f.max, syscall.EINVAL)
		}
	}
	return nil
}

// AttachMulticast makes the UD QP receive the datagrams sent to the
// multicast group gid (on IB with its multicast LID lid; 0 on RoCE)
// (ibv_attach_mcast). rdmacm's JoinMulticast joins a group and attaches a
// QP to it. Close detaches the QP from the groups it is still attached to
// (the kernel refuses to destroy an attached QP). Attachments to one
// group are counted: the QP is attached by the first and detached by the
// DetachMulticast that undoes the last.
func (qp *QP) AttachMulticast(gid GID, lid uint16) error {
	return qp.use("ibv_attach_mcast", func(raw cgo.QP) error {
		qp.mcastMu.Lock()
		defer qp.mcastMu.Unlock()
		g := mcastGroup{gid, lid}
		if qp.mcast[g] == 0 {
			if err := raw.AttachMcast(gid, lid); err != nil {
				return err
			}
		}
		if qp.mcast == nil {
			qp.mcast = map[mcastGroup]int{}
		}
		qp.mcast[g]++
		return nil
	})
}

// DetachMulticast undoes an AttachMulticast (ibv_detach_mcast once it
// undoes the last); EINVAL when the QP is not attached to the group.
func (qp *QP) DetachMulticast(gid GID, lid uint16) error {
	return qp.use("ibv_detach_mcast", func(raw cgo.QP) error {
		qp.mcastMu.Lock()
		defer qp.mcastMu.Unlock()
		g := mcastGroup{gid, lid}
		switch qp.mcast[g] {
		case 0:
			return fmt.Errorf("QP not attached to the group: %w", syscall.EINVAL)
		case 1:
			if err := raw.DetachMcast(gid, lid); err != nil {
				return err
			}
			delete(qp.mcast, g)
		default:
			qp.mcast[g]--
		}
		return nil
	})
}

// detachAll detaches the QP from every group it is attached to, for Close.
func (qp *QP) detachAll() error {
	qp.mcastMu.Lock()
	defer qp.mcastMu.Unlock()
	var errs []error
	for g := range qp.mcast {
		if err := qp.raw.DetachMcast(g.gid, g.lid); err != nil {
			errs = append(errs, fmt.Errorf("ibv_detach_mcast: %w", err))
			continue
		}
		delete(qp.mcast, g)
	}
	return errors.Join(errs...)
}

// Query returns the QP's current attributes (ibv_query_qp, all fields).
func (qp *QP) Query() (*QPAttr, error) {
	var a QPAttr
	err := qp.use("ibv_query_qp", func(raw cgo.QP) (err error) {
		a, _, err = raw.Query(int(allQPAttrs))
		return err
	})
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// ECE returns the Enhanced Connection Establishment options the QP's
// provider offers (ibv_query_ece); providers without ECE (all but mlx5 in
// rdma-core 44: rxe and siw among them) fail with EOPNOTSUPP.
func (qp *QP) ECE() (ECE, error) {
	var e ECE
	err := qp.use("ibv_query_ece", func(raw cgo.QP) (err error) {
		e, err = raw.QueryECE()
		return err
	})
	return e, err
}

// SetECE sets the options the QP uses (ibv_set_ece), the peer's answer to
// the QP's own: before the connection moves the QP to RTR. Providers
// without ECE fail with EOPNOTSUPP.
func (qp *QP) SetECE(e ECE) error {
	return qp.use("ibv_set_ece", func(raw cgo.QP) error { return raw.SetECE(e) })
}

// OutOfReset reports whether the QP has left the RESET state, without
// asking the device: only Modify takes a QP out of RESET or back into it
// (the device moves it between the other states, never to RESET), so the
// last Modify that set the state answers.
func (qp *QP) OutOfReset() (bool, error) {
	if err := qp.use("ibv_query_qp", func(cgo.QP) error { return nil }); err != nil {
		return false, err
	}
	return qp.moved.Load(), nil
}

// State is the QP's current state, as ibv_query_qp reports it. A QP in
// RESET (see OutOfReset) is answered without asking the device.
func (qp *QP) State() (QPState, error) {
	if out, err := qp.OutOfReset(); err != nil || !out {
		return QPStateReset, err
	}
	a, err := qp.Query()
	if err != nil {
		return 0, err
	}
	return QPState(a.State), nil
}
