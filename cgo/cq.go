package cgo

/*
#cgo noescape go_poll_cq
#cgo nocallback go_poll_cq
#cgo noescape go_get_cq_events
#cgo nocallback go_get_cq_events
#include <errno.h>
#include <stdlib.h>
#include <infiniband/verbs.h>
#include "poll.h"

// go_create_cq creates a CQ; on failure it returns NULL and err is the errno.
static inline struct ibv_cq *go_create_cq(struct ibv_context *c, int cqe, struct ibv_comp_channel *ch, int vector,
					  int *err) {
	errno = 0; // libsiw can fail without setting errno; never report a stale one
	struct ibv_cq *cq = ibv_create_cq(c, cqe, NULL, ch, vector);
	if (!cq)
		*err = errno;
	return cq;
}

static inline int go_req_notify_cq(uintptr_t cq, int solicited_only) {
	return ibv_req_notify_cq((struct ibv_cq *)cq, solicited_only);
}

// go_get_cq_event reads one event from a (non-blocking) channel and acks it.
// Returns the CQ it was for, or NULL with errno set (EAGAIN: none pending).
static inline struct ibv_cq *go_get_cq_event(struct ibv_comp_channel *ch) {
	struct ibv_cq *cq;
	void *ctx;
	if (ibv_get_cq_event(ch, &cq, &ctx))
		return NULL;
	ibv_ack_cq_events(cq, 1);
	return cq;
}

typedef struct {
	int n, err;
} go_cq_events;

// go_get_cq_events reads pending events, at most max, acks each and stores
// its CQ in out: a reader makes one call into C per wake-up. err is 0 when
// out is full (more may be pending), EAGAIN when no event is left, or the
// errno of the read that failed after n events.
static inline go_cq_events go_get_cq_events(struct ibv_comp_channel *ch, uintptr_t *out, int max) {
	go_cq_events r = {0, 0};
	while (r.n < max) {
		struct ibv_cq *cq = go_get_cq_event(ch);
		if (!cq) {
			r.err = errno ? errno : EIO;
			break;
		}
		out[r.n++] = (uintptr_t)cq;
	}
	return r;
}
*/
import "C"

import (
	"fmt"
	"math"
	"syscall"
	"unsafe"
)

// WC is a work completion (struct ibv_wc, flattened). Its layout is go_wc's.
type WC struct {
	WRID         uint64
	Status       WCStatus
	Opcode       WCOpcode
	VendorErr    uint32
	ByteLen      uint32
	Imm          uint32 // immediate data in host order (or the invalidated rkey)
	QPNum        uint32
	SrcQP        uint32
	Flags        WCFlags
	PKeyIndex    uint16
	SLID         uint16
	SL           uint8
	DLIDPathBits uint8
}

// The Go and C layouts must agree: these fail to compile otherwise.
var (
	_ [unsafe.Sizeof(WC{}) - C.sizeof_go_wc]byte
	_ [C.sizeof_go_wc - unsafe.Sizeof(WC{})]byte
)

// CompChannel is a completion event channel (struct ibv_comp_channel *).
type CompChannel struct{ p *C.struct_ibv_comp_channel }

// CreateCompChannel creates a completion channel (ibv_create_comp_channel).
func (c Context) CreateCompChannel() (CompChannel, error) {
	ch, err := C.ibv_create_comp_channel(c.p)
	if ch == nil {
		return CompChannel{}, nonNil(err)
	}
	return CompChannel{p: ch}, nil
}

// FD is the channel's file descriptor.
func (ch CompChannel) FD() int { return int(ch.p.fd) }

// Destroy destroys the channel (ibv_destroy_comp_channel).
func (ch CompChannel) Destroy() error {
	rc, err := C.ibv_destroy_comp_channel(ch.p)
	return errnoOf(rc, err)
}

// GetEvents reads and acks pending events in one call into C, storing the
// ID of each one's CQ in ids. It returns how many it read, and err nil when
// ids is full (more may be pending), EAGAIN when none is left, or why the
// next read failed; EINVAL, before any call into C, for the zero
// CompChannel.
func (ch CompChannel) GetEvents(ids []uintptr) (n int, err error) {
	if ch.p == nil {
		return 0, syscall.EINVAL
	}
	if len(ids) == 0 {
		return 0, nil
	}
	r := C.go_get_cq_events(ch.p, (*C.uintptr_t)(unsafe.Pointer(&ids[0])), C.int(len(ids)))
	if r.err != 0 {
		err = syscall.Errno(r.err)
	}
	return int(r.n), err
}

// CQ is a completion queue (struct ibv_cq *) and the most completions one
// poll returns.
type CQ struct {
	p     *C.struct_ibv_cq
	max   int
	batch int        // asked at creation; max is it capped by the CQ's size
	inv   C.uint32_t // the flag the provider marks an invalidating completion with
}

// KernelWCFlags makes the CQ's polls report the kernel's flag for a
// completion that invalidated an rkey (IB_WC_WITH_INVALIDATE, 1 << 2) as
// WCWithInv: rxe (Linux 6.1) writes the kernel's flags into its user
// completion queues.
func (cq *CQ) KernelWCFlags() { cq.inv = 1 << 2 }

// CreateCQ creates a CQ of at least cqe entries bound to ch (may be the zero
// CompChannel), polled at most batch completions per call, and never more
// than the CQ holds.
func (c Context) CreateCQ(cqe int, ch CompChannel, vector int, batch int) (CQ, error) {
	if batch <= 0 || cqe <= 0 || cqe > math.MaxInt32 || vector < 0 || vector > math.MaxInt32 {
		return CQ{}, syscall.EINVAL
	}
	var errno C.int
	cq := C.go_create_cq(c.p, C.int(cqe), ch.p, C.int(vector), &errno)
	if cq == nil {
		return CQ{}, queueErr(errnoOf(errno, nil))
	}
	return CQ{p: cq, max: max(min(batch, int(cq.cqe)), 1), batch: batch, inv: C.IBV_WC_WITH_INV}, nil
}

// Resize makes the CQ hold at least cqe completions (ibv_resize_cq) and
// recomputes its poll batch; the caller checks cqe (a C int) and excludes
// concurrent polls. A CQ that already has cqe entries is left alone.
//
// When the call fails after the kernel resized the CQ (its size changed),
// the provider's view of the CQ is unknown: rxe unmaps its old queue
// before it maps the new one, and when that map fails it polls a NULL
// queue. The CQ then polls nothing more (errQueueLost, with a poll batch
// of 0).
func (cq *CQ) Resize(cqe int) error {
	before := cq.p.cqe
	switch {
	case cq.max == 0:
		return errQueueLost
	case int(before) == cqe:
		return nil
	}
	if rc := C.ibv_resize_cq(cq.p, C.int(cqe)); rc != 0 {
		if cq.p.cqe != before {
			cq.max = 0
		}
		return errnoOf(rc, nil)
	}
	cq.max = max(min(cq.batch, int(cq.p.cqe)), 1)
	return nil
}

// errQueueLost is the error of a CQ whose resize failed once the kernel
// had resized it (Resize).
var errQueueLost = fmt.Errorf("the CQ's queue was lost in a failed resize: %w", syscall.EIO)

// Destroy destroys the CQ (ibv_destroy_cq).
func (cq CQ) Destroy() error {
	rc, err := C.ibv_destroy_cq(cq.p)
	return errnoOf(rc, err)
}

// CQE is the CQ's actual size.
func (cq CQ) CQE() int { return int(cq.p.cqe) }

// Poll polls up to len(wcs) completions (at most the CQ's batch) in one call.
func (cq CQ) Poll(wcs []WC) (int, error) { return cq.PollSpin(wcs, 1) }

// PollSpin polls like Poll, repeating an empty poll up to spins times (at
// least once) within the one call.
func (cq CQ) PollSpin(wcs []WC, spins int) (int, error) {
	n := min(len(wcs), cq.max)
	if n == 0 {
		return 0, cq.lost()
	}
	got := C.go_poll_cq(cptr(unsafe.Pointer(cq.p)), C.int(n), (*C.go_wc)(unsafe.Pointer(&wcs[0])), C.int(max(spins, 1)), cq.inv)
	if got < 0 {
		return 0, syscall.EIO // ibv_poll_cq gives no errno
	}
	return int(got), nil
}

// lost is errQueueLost for a CQ whose queue was lost (Resize), nil for
// the others.
func (cq CQ) lost() error {
	if cq.max == 0 {
		return errQueueLost
	}
	return nil
}

// ReqNotify arms the CQ (ibv_req_notify_cq).
func (cq CQ) ReqNotify(solicitedOnly bool) error {
	so := C.int(0)
	if solicitedOnly {
		so = 1
	}
	return errnoOf(C.go_req_notify_cq(cptr(unsafe.Pointer(cq.p)), so), nil)
}

// WCStatus is a work completion's status (enum ibv_wc_status).
type WCStatus uint32

// Work completion statuses most programs test for; the rest keep their numbers.
const (
	WCSuccess        WCStatus = 0
	WCLocLenErr      WCStatus = 1
	WCLocQPOpErr     WCStatus = 2
	WCLocProtErr     WCStatus = 4
	WCWRFlushErr     WCStatus = 5
	WCRemAccessErr   WCStatus = 10
	WCRetryExcErr    WCStatus = 12
	WCRNRRetryExcErr WCStatus = 13
)

// String is ibv_wc_status_str, e.g. "transport retry counter exceeded".
func (s WCStatus) String() string {
	return C.GoString(C.ibv_wc_status_str(C.enum_ibv_wc_status(s)))
}

// WCOpcode is the operation a completion is for (enum ibv_wc_opcode).
type WCOpcode uint32

// Work completion opcodes.
const (
	WCSend            WCOpcode = 0
	WCRDMAWrite       WCOpcode = 1
	WCRDMARead        WCOpcode = 2
	WCCompSwap        WCOpcode = 3
	WCFetchAdd        WCOpcode = 4
	WCBindMW          WCOpcode = 5
	WCLocalInv        WCOpcode = 6
	WCRecv            WCOpcode = 1 << 7
	WCRecvRDMAWithImm WCOpcode = WCRecv + 1
)

var wcOpcodeNames = map[WCOpcode]string{
	WCSend: "SEND", WCRDMAWrite: "RDMA_WRITE", WCRDMARead: "RDMA_READ", WCCompSwap: "COMP_SWAP",
	WCFetchAdd: "FETCH_ADD", WCBindMW: "BIND_MW", WCLocalInv: "LOCAL_INV", WCRecv: "RECV",
	WCRecvRDMAWithImm: "RECV_RDMA_WITH_IMM",
}

// String returns the opcode's name as in IBV_WC_*, e.g. "RDMA_WRITE".
func (o WCOpcode) String() string { return enumName(wcOpcodeNames, o) }

// WCFlags are a completion's flags (enum ibv_wc_flags).
type WCFlags uint32

// Work completion flags.
const (
	WCWithGRH WCFlags = 1 << 0
	WCWithImm WCFlags = 1 << 1
	// WCWithInv: the message invalidated the rkey in Imm. rxe (Linux 6.1)
	// writes the kernel's IB_WC_WITH_INVALIDATE, 1 << 2, into its user
	// completion queues instead (IBV_WC_IP_CSUM_OK's bit here), which the
	// polls of a CQ told so (KernelWCFlags) report as WCWithInv; libsiw
	// (rdma-core 44) reports no flags at all.
	WCWithInv WCFlags = 1 << 3
)

// WCError is the error of a completion whose status is not success.
type WCError struct {
	WRID      uint64
	Status    WCStatus
	Opcode    WCOpcode
	VendorErr uint32
}

// Error formats the request, the status text (ibv_wc_status_str) and the vendor error.
func (e *WCError) Error() string {
	return fmt.Sprintf("work request %d: %s (status %d, vendor error 0x%x)", e.WRID, e.Status, uint32(e.Status), e.VendorErr)
}

// Err returns nil for a successful completion, a *WCError otherwise.
func (wc *WC) Err() error {
	if wc.Status == WCSuccess {
		return nil
	}
	return &WCError{WRID: wc.WRID, Status: wc.Status, Opcode: wc.Opcode, VendorErr: wc.VendorErr}
}

// ID identifies the CQ in asynchronous events (its C address).
func (cq CQ) ID() uintptr { return uintptr(unsafe.Pointer(cq.p)) }
