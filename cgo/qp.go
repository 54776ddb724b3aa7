package cgo

/*
#cgo nocallback go_post_send
#cgo nocallback go_post_send_list
#cgo noescape go_poll_post_send_list
#cgo nocallback go_poll_post_send_list
#cgo nocallback go_post_recv
#cgo nocallback go_post_recv_list
#cgo noescape ibv_query_qp
#cgo nocallback ibv_query_qp
#cgo noescape go_block
#cgo nocallback go_block
#include <errno.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <infiniband/verbs.h>
#include "poll.h"

// go_send_wr is struct ibv_send_wr without unions or pointers to Go memory:
// the Go side fills an array of these in C memory, go_post_send builds the
// chain and posts it in one call.
typedef struct {
	uint64_t wr_id, remote_addr, compare_add, swap, bind_addr, bind_length;
	struct ibv_ah *ah;
	struct ibv_mw *mw;
	struct ibv_mr *bind_mr;
	uint32_t opcode, send_flags, imm, rkey, remote_qpn, remote_qkey, num_sge, bind_access;
} go_send_wr;

// go_fill_send builds in[0..n) into wrs[0..n) as one chain; request i's
// scatter/gather entries start at sges[i*stride].
static inline void go_fill_send(struct ibv_send_wr *wrs, const go_send_wr *in, int n, struct ibv_sge *sges,
		int stride) {
	memset(wrs, 0, sizeof(*wrs) * n);
	for (int i = 0; i < n; i++) {
		struct ibv_send_wr *w = &wrs[i];
		w->wr_id = in[i].wr_id;
		w->next = i + 1 < n ? &wrs[i + 1] : NULL;
		w->sg_list = &sges[i * stride];
		w->num_sge = in[i].num_sge;
		w->opcode = in[i].opcode;
		w->send_flags = in[i].send_flags;
		switch (in[i].opcode) {
		case IBV_WR_SEND_WITH_IMM:
			w->imm_data = htobe32(in[i].imm);
			break;
		case IBV_WR_RDMA_WRITE_WITH_IMM:
			w->imm_data = htobe32(in[i].imm);
			// fall through
		case IBV_WR_RDMA_WRITE:
		case IBV_WR_RDMA_READ:
			w->wr.rdma.remote_addr = in[i].remote_addr;
			w->wr.rdma.rkey = in[i].rkey;
			break;
		case IBV_WR_ATOMIC_CMP_AND_SWP:
		case IBV_WR_ATOMIC_FETCH_AND_ADD:
			w->wr.atomic.remote_addr = in[i].remote_addr;
			w->wr.atomic.rkey = in[i].rkey;
			w->wr.atomic.compare_add = in[i].compare_add;
			w->wr.atomic.swap = in[i].swap;
			break;
		case IBV_WR_SEND_WITH_INV:
			// libsiw (rdma-core 44) takes the rkey from wr.rdma.rkey,
			// unused by the others for this opcode.
			w->wr.rdma.rkey = in[i].rkey;
			// fall through
		case IBV_WR_LOCAL_INV:
			w->invalidate_rkey = in[i].rkey;
			break;
		case IBV_WR_BIND_MW:
			w->bind_mw.mw = in[i].mw;
			w->bind_mw.rkey = in[i].rkey;
			w->bind_mw.bind_info.mr = in[i].bind_mr;
			w->bind_mw.bind_info.addr = in[i].bind_addr;
			w->bind_mw.bind_info.length = in[i].bind_length;
			w->bind_mw.bind_info.mw_access_flags = in[i].bind_access;
			break;
		}
		if (in[i].ah) {
			w->wr.ud.ah = in[i].ah;
			w->wr.ud.remote_qpn = in[i].remote_qpn;
			w->wr.ud.remote_qkey = in[i].remote_qkey;
		}
	}
}

// go_post_chain posts the chain that starts at wrs; on failure *bad is the
// index of the failing request.
static inline int go_post_chain(struct ibv_qp *qp, struct ibv_send_wr *wrs, int *bad) {
	if (go_refuses(qp, 1)) {
		*bad = 0;
		return go_not_ready;
	}
	struct ibv_send_wr *bad_wr = NULL;
	int rc = ibv_post_send(qp, wrs, &bad_wr);
	*bad = bad_wr ? (int)(bad_wr - wrs) : 0;
	// A provider that names a request it did not post failed, whatever it
	// returned: libsiw (rdma-core 44) replaces the error of a request it
	// refuses with its doorbell's success when requests before it were
	// queued. The errno is lost.
	if (rc == 0 && bad_wr)
		rc = EIO;
	return rc;
}

// go_post_send posts in[0..n); request i's scatter/gather entries start at
// sges[i*stride]. On failure *bad is the index of the failing request.
//
// The post shims take the C objects whose types hold pointers (the QP or
// SRQ, the request arrays) as uintptr_t: cgo checks every argument of such
// a type for Go pointers (cgoCheckPointer) on every call, and these are C
// memory, never Go's.
static inline int go_post_send(uintptr_t qpp, uintptr_t inp, int n, struct ibv_sge *sges, int stride,
		uintptr_t wrsp, int *bad) {
	struct ibv_send_wr *wrs = (struct ibv_send_wr *)wrsp;
	go_fill_send(wrs, (const go_send_wr *)inp, n, sges, stride);
	return go_post_chain((struct ibv_qp *)qpp, wrs, bad);
}

// go_fill_send_list builds requests [off, off+n) of a send list (wrs, and
// sges with stride entries per request) from in[0..n) and their entries at
// from[i*stride], and links them to the requests before off.
static inline void go_fill_send_list(uintptr_t wrsp, struct ibv_sge *sges, int off, uintptr_t inp, int n,
		struct ibv_sge *from, int stride) {
	struct ibv_send_wr *wrs = (struct ibv_send_wr *)wrsp;
	memcpy(&sges[off * stride], from, sizeof(*from) * n * stride);
	go_fill_send(&wrs[off], (const go_send_wr *)inp, n, &sges[off * stride], stride);
	if (off > 0)
		wrs[off - 1].next = &wrs[off];
}

// The offsets of struct ibv_send_wr's union members a send list's setters
// write from Go.
enum {
	go_wr_remote_addr_off = offsetof(struct ibv_send_wr, wr.rdma.remote_addr),
	go_wr_rdma_rkey_off = offsetof(struct ibv_send_wr, wr.rdma.rkey),
	go_wr_atomic_addr_off = offsetof(struct ibv_send_wr, wr.atomic.remote_addr),
	go_wr_atomic_rkey_off = offsetof(struct ibv_send_wr, wr.atomic.rkey),
	go_wr_imm_off = offsetof(struct ibv_send_wr, imm_data),
};

// go_post_send_list posts the first n requests of a send list in chains of
// per requests (the last one shorter when per does not divide n), one
// ibv_post_send each, cutting the list after each chain for its call. It
// stops at the first chain the provider refuses; *bad is then the index in
// the list of the request it refused.
static inline int go_post_send_list(uintptr_t qpp, uintptr_t wrsp, int n, int per, int *bad) {
	struct ibv_send_wr *wrs = (struct ibv_send_wr *)wrsp;
	for (int i = 0; i < n; i += per) {
		int last = (n - i < per ? n : i + per) - 1;
		struct ibv_send_wr *next = wrs[last].next;
		wrs[last].next = NULL;
		int rc = go_post_chain((struct ibv_qp *)qpp, &wrs[i], bad);
		wrs[last].next = next;
		if (rc) {
			*bad += i;
			return rc;
		}
	}
	return 0;
}

// go_post_recv_list posts the first n requests of a receive list to a QP
// (srq 0) or an SRQ (srq 1) as one chain, cutting the list after them for
// the call; on failure *bad is the index of the request refused.
static inline int go_post_recv_list(uintptr_t q, int srq, uintptr_t wrsp, int n, int *bad) {
	struct ibv_recv_wr *wrs = (struct ibv_recv_wr *)wrsp;
	struct ibv_recv_wr *bad_wr = NULL;
	*bad = 0;
	if (!srq && go_refuses((struct ibv_qp *)q, 0))
		return go_not_ready;
	struct ibv_recv_wr *next = wrs[n - 1].next;
	wrs[n - 1].next = NULL;
	int rc = srq ? ibv_post_srq_recv((struct ibv_srq *)q, wrs, &bad_wr)
		     : ibv_post_recv((struct ibv_qp *)q, wrs, &bad_wr);
	wrs[n - 1].next = next;
	if (rc && bad_wr)
		*bad = (int)(bad_wr - wrs);
	return rc;
}

// go_poll_post_send_list polls the CQ as go_poll_cq does and, when that
// gives completions, posts the first nr requests of a receive list (none
// when nr is 0) and then, when they were taken, the first n requests of a
// send list as one chain (go_post_send_list): a ping-pong's turnaround,
// the consumed receive replaced before the reply, with no return to Go
// between the completion and the posts. got is the completions' count (0:
// none came, nothing was posted; negative: the poll failed), recv_rc the
// receives' error and rc the sends'.
typedef struct {
	int got, recv_rc, rc;
} go_polled_post;

static inline go_polled_post go_poll_post_send_list(uintptr_t cqp, uint32_t inv, int max, go_wc *out, int spins,
		uintptr_t rq, int srq, uintptr_t rwrsp, int nr, int *rbad, uintptr_t qpp, uintptr_t wrsp, int n, int *bad) {
	go_polled_post r = {go_poll_cq(cqp, max, out, spins, inv), 0, 0};
	if (r.got > 0 && nr > 0)
		r.recv_rc = go_post_recv_list(rq, srq, rwrsp, nr, rbad);
	if (r.got > 0 && r.recv_rc == 0)
		r.rc = go_post_send_list(qpp, wrsp, n, n, bad);
	return r;
}

typedef struct {
	uint64_t wr_id;
	uint32_t num_sge, pad;
} go_recv_wr;

// go_fill_recv builds in[0..n) into wrs[0..n) as one chain; request i's
// scatter/gather entries start at sges[i*stride].
static inline void go_fill_recv(struct ibv_recv_wr *wrs, const go_recv_wr *in, int n, struct ibv_sge *sges,
		int stride) {
	for (int i = 0; i < n; i++) {
		wrs[i].wr_id = in[i].wr_id;
		wrs[i].next = i + 1 < n ? &wrs[i + 1] : NULL;
		wrs[i].sg_list = &sges[i * stride];
		wrs[i].num_sge = in[i].num_sge;
	}
}

// go_post_recv posts in[0..n) to a QP (srq 0) or an SRQ (srq 1); on failure
// *bad is the index of the failing request.
static inline int go_post_recv(uintptr_t qp, int srq, go_recv_wr *in, int n, struct ibv_sge *sges, int stride,
		uintptr_t wrsp, int *bad) {
	struct ibv_recv_wr *wrs = (struct ibv_recv_wr *)wrsp;
	struct ibv_recv_wr *bad_wr = NULL;
	if (!srq && go_refuses((struct ibv_qp *)qp, 0)) {
		*bad = 0;
		return go_not_ready;
	}
	go_fill_recv(wrs, in, n, sges, stride);
	int rc = srq ? ibv_post_srq_recv((struct ibv_srq *)qp, wrs, &bad_wr)
		     : ibv_post_recv((struct ibv_qp *)qp, wrs, &bad_wr);
	*bad = bad_wr ? (int)(bad_wr - wrs) : 0;
	return rc;
}

// go_modify_qp and go_create_qp take their attributes by value (and
// go_create_qp returns the granted capabilities by value): a Go caller's
// struct then stays on its stack instead of escaping to the heap, as it
// does when its address goes to C.
static inline int go_modify_qp(struct ibv_qp *qp, struct ibv_qp_attr attr, int mask) {
	return ibv_modify_qp(qp, &attr, mask);
}

// A queue's scratch memory is one zeroed C allocation carved into parts,
// each aligned for any C type: one calloc and one free, where an
// allocation per part made a QP eight of each. go_block allocates the
// block for n parts of sizes[i] bytes and sets offs[i] to part i's offset.
static inline void *go_block(const size_t *sizes, size_t *offs, int n) {
	size_t off = 0;
	for (int i = 0; i < n; i++) {
		offs[i] = off;
		off += (sizes[i] + 15) & ~(size_t)15;
	}
	return calloc(1, off);
}

// go_recv_sizes are the parts of the scratch for a chain of batch receive
// requests of up to sge entries each.
static inline void go_recv_sizes(size_t *sizes, int batch, uint32_t sge) {
	sizes[0] = (size_t)batch * sizeof(go_recv_wr);
	sizes[1] = (size_t)batch * (sge ? sge : 1) * sizeof(struct ibv_sge);
	sizes[2] = (size_t)batch * sizeof(struct ibv_recv_wr);
	sizes[3] = sizeof(int);
}

// go_create_qp creates a QP and, in the same call, its post scratch for
// chains of batch requests of as many entries as the provider granted: the
// send parts at offs[0..4), the receive parts at offs[4..8). On failure qp
// is NULL and err the errno.
typedef struct {
	struct ibv_qp *qp;
	struct ibv_qp_cap cap;
	void *block;
	size_t offs[8];
	int err;
} go_created_qp;

static inline go_created_qp go_create_qp(struct ibv_pd *pd, struct ibv_qp_init_attr attr, int batch) {
	go_created_qp r = {0};
	errno = 0;
	r.qp = ibv_create_qp(pd, &attr);
	if (!r.qp) {
		r.err = errno;
		return r;
	}
	r.cap = attr.cap;
	uint32_t sge = attr.cap.max_send_sge ? attr.cap.max_send_sge : 1;
	size_t sizes[8] = {(size_t)batch * sizeof(go_send_wr), (size_t)batch * sge * sizeof(struct ibv_sge),
			   (size_t)batch * sizeof(struct ibv_send_wr), sizeof(int)};
	go_recv_sizes(&sizes[4], batch, attr.cap.max_recv_sge);
	r.block = go_block(sizes, r.offs, 8);
	if (!r.block) {
		ibv_destroy_qp(r.qp);
		r.qp = NULL;
		r.err = ENOMEM;
	}
	return r;
}

// go_create_srq creates an SRQ and its receive scratch (offs[0..4)), as
// go_create_qp does.
typedef struct {
	struct ibv_srq *srq;
	struct ibv_srq_attr attr;
	void *block;
	size_t offs[4];
	int err;
} go_created_srq;

static inline go_created_srq go_create_srq(struct ibv_pd *pd, struct ibv_srq_init_attr attr, int batch) {
	go_created_srq r = {0};
	errno = 0;
	r.srq = ibv_create_srq(pd, &attr);
	if (!r.srq) {
		r.err = errno;
		return r;
	}
	r.attr = attr.attr;
	size_t sizes[4];
	go_recv_sizes(sizes, batch, attr.attr.max_sge);
	r.block = go_block(sizes, r.offs, 4);
	if (!r.block) {
		ibv_destroy_srq(r.srq);
		r.srq = NULL;
		r.err = ENOMEM;
	}
	return r;
}

// go_destroy_qp and go_destroy_srq free the queue's scratch block once the
// queue is gone, in the same call; on failure errno is the destroy's.
static inline int go_destroy_qp(struct ibv_qp *qp, void *block) {
	int rc = ibv_destroy_qp(qp);
	if (rc == 0)
		free(block);
	return rc;
}

static inline int go_destroy_srq(struct ibv_srq *srq, void *block) {
	int rc = ibv_destroy_srq(srq);
	if (rc == 0)
		free(block);
	return rc;
}

// go_mcast attaches qp to (attach != 0) or detaches it from the multicast
// group gid/lid (ibv_attach_mcast, ibv_detach_mcast), the GID by value.
static inline int go_mcast(struct ibv_qp *qp, union ibv_gid gid, uint16_t lid, int attach) {
	return attach ? ibv_attach_mcast(qp, &gid, lid) : ibv_detach_mcast(qp, &gid, lid);
}
*/
import "C"

import (
	"encoding/binary"
	"fmt"
	"math"
	"syscall"
	"unsafe"
)

// QPCap mirrors struct ibv_qp_cap.
type QPCap struct {
	MaxSendWR     uint32
	MaxRecvWR     uint32
	MaxSendSGE    uint32
	MaxRecvSGE    uint32
	MaxInlineData uint32
}

// GlobalRoute mirrors struct ibv_global_route.
type GlobalRoute struct {
	DGID         GID
	FlowLabel    uint32
	SGIDIndex    uint8
	HopLimit     uint8
	TrafficClass uint8
}

// AHAttr mirrors struct ibv_ah_attr.
type AHAttr struct {
	GRH         GlobalRoute
	DLID        uint16
	SL          uint8
	SrcPathBits uint8
	StaticRate  uint8
	IsGlobal    bool
	PortNum     uint8
}

// QPAttr mirrors struct ibv_qp_attr.
type QPAttr struct {
	State            int // enum ibv_qp_state
	CurState         int
	PathMTU          MTU
	PathMigState     int
	QKey             uint32
	RQPSN            uint32
	SQPSN            uint32
	DestQPNum        uint32
	AccessFlags      int // enum ibv_access_flags
	Cap              QPCap
	AHAttr           AHAttr
	AltAHAttr        AHAttr
	PKeyIndex        uint16
	AltPKeyIndex     uint16
	EnSQDAsyncNotify bool
	SQDraining       bool
	MaxRdAtomic      uint8
	MaxDestRdAtomic  uint8
	MinRNRTimer      uint8
	PortNum          uint8
	Timeout          uint8
	RetryCnt         uint8
	RNRRetry         uint8
	AltPortNum       uint8
	AltTimeout       uint8
	RateLimit        uint32
}

// QPInit is what CreateQP needs (struct ibv_qp_init_attr).
type QPInit struct {
	Type      int // enum ibv_qp_type
	SendCQ    CQ
	RecvCQ    CQ
	SRQ       SRQ // the zero SRQ: the QP has its own receive queue
	Cap       QPCap
	SignalAll bool
}

// QP is a queue pair (struct ibv_qp *) with C scratch memory for posting
// chains of up to batch work requests in one call.
type QP struct {
	p    *C.struct_ibv_qp
	post *postScratch
}

// recvScratch is C memory for one chain of receive requests. block is the
// allocation it owns (an SRQ's); a QP's is part of its postScratch.
type recvScratch struct {
	batch, maxSGE int
	block         unsafe.Pointer
	recv          *C.go_recv_wr
	sge           *C.struct_ibv_sge
	wr            *C.struct_ibv_recv_wr
	bad           *C.int
}

// place points the scratch at its parts in base, at offs (go_recv_sizes).
func (s *recvScratch) place(base unsafe.Pointer, offs []C.size_t) {
	s.recv = (*C.go_recv_wr)(unsafe.Add(base, offs[0]))
	s.sge = (*C.struct_ibv_sge)(unsafe.Add(base, offs[1]))
	s.wr = (*C.struct_ibv_recv_wr)(unsafe.Add(base, offs[2]))
	s.bad = (*C.int)(unsafe.Add(base, offs[3]))
}

// post posts the first n requests stored with set as one chain to q, a QP
// or (srq) an SRQ.
func (s *recvScratch) post(q unsafe.Pointer, srq bool, n int) (int, error) {
	if n < 1 || n > s.batch {
		return 0, syscall.EINVAL
	}
	isSRQ := C.int(0)
	if srq {
		isSRQ = 1
	}
	rc := C.go_post_recv(cptr(q), isSRQ, s.recv, C.int(n), s.sge, C.int(s.maxSGE), cptr(unsafe.Pointer(s.wr)), s.bad)
	return int(*s.bad), postErr(rc)
}

// set stores request i of the next chain.
func (s *recvScratch) set(i int, id uint64, sgl []SGE) {
	w := &unsafe.Slice(s.recv, s.batch)[i]
	w.wr_id = C.uint64_t(id)
	w.num_sge = C.uint32_t(len(sgl))
	copy(unsafe.Slice((*SGE)(unsafe.Pointer(s.sge)), s.batch*s.maxSGE)[i*s.maxSGE:], sgl)
}

type postScratch struct {
	batch, maxSendSGE int
	block             unsafe.Pointer
	send              *C.go_send_wr
	sendSGE           *C.struct_ibv_sge
	sendWR            *C.struct_ibv_send_wr
	bad               *C.int
	recv              recvScratch
}

// ErrNotReady is a post to an IB or RoCE QP in a state that takes no such
// requests: a send before RTS, a receive in RESET.
var ErrNotReady = fmt.Errorf("QP not ready: sends need RTS, receives INIT or later: %w", syscall.EINVAL)

// postErr is the error of a post shim's rc.
func postErr(rc C.int) error {
	if rc == C.go_not_ready {
		return ErrNotReady
	}
	return errnoOf(rc, nil)
}

// MaxBatch bounds the requests one post call takes (a QP's or SRQ's batch).
const MaxBatch = 1 << 16

// CreateQP creates a queue pair (ibv_create_qp) and its post scratch in one
// call; batch (1..MaxBatch) bounds the work requests one Post call hands to
// the provider.
func (pd PD) CreateQP(init QPInit, batch int) (QP, QPCap, error) {
	if batch < 1 || batch > MaxBatch {
		return QP{}, QPCap{}, syscall.EINVAL
	}
	var a C.struct_ibv_qp_init_attr
	a.send_cq = init.SendCQ.p
	a.recv_cq = init.RecvCQ.p
	a.srq = init.SRQ.p
	a.cap = capToC(init.Cap)
	a.qp_type = C.enum_ibv_qp_type(init.Type)
	if init.SignalAll {
		a.sq_sig_all = 1
	}
	r := C.go_create_qp(pd.p, a, C.int(batch))
	if r.qp == nil {
		return QP{}, QPCap{}, queueErr(errnoOf(r.err, nil))
	}
	got := capFromC(r.cap)
	s := &postScratch{batch: batch, maxSendSGE: max(int(got.MaxSendSGE), 1), block: r.block,
		recv: recvScratch{batch: batch, maxSGE: max(int(got.MaxRecvSGE), 1)}}
	s.send = (*C.go_send_wr)(unsafe.Add(r.block, r.offs[0]))
	s.sendSGE = (*C.struct_ibv_sge)(unsafe.Add(r.block, r.offs[1]))
	s.sendWR = (*C.struct_ibv_send_wr)(unsafe.Add(r.block, r.offs[2]))
	s.bad = (*C.int)(unsafe.Add(r.block, r.offs[3]))
	s.recv.place(r.block, r.offs[4:])
	return QP{p: r.qp, post: s}, got, nil
}

// ID identifies the QP in asynchronous events (its C address).
func (qp QP) ID() uintptr { return uintptr(unsafe.Pointer(qp.p)) }

// Destroy destroys the QP (ibv_destroy_qp) and frees its scratch memory.
func (qp QP) Destroy() error {
	rc, err := C.go_destroy_qp(qp.p, qp.post.block)
	return errnoOf(rc, err)
}

// Num is the QP number.
func (qp QP) Num() uint32 { return uint32(qp.p.qp_num) }

// Modify changes the attributes selected by mask (ibv_modify_qp).
func (qp QP) Modify(attr *QPAttr, mask int) error {
	rc, err := C.go_modify_qp(qp.p, qpAttrToC(attr), C.int(mask))
	return errnoOf(rc, err)
}

// ECE is a QP's Enhanced Connection Establishment options (struct ibv_ece
// without its comp_mask).
type ECE struct {
	VendorID uint32 // the provider vendor's IEEE OUI
	Options  uint32 // vendor-specific
}

// QueryECE returns the ECE options the QP's provider supports
// (ibv_query_ece).
func (qp QP) QueryECE() (ECE, error) {
	var e C.struct_ibv_ece
	if rc, err := C.ibv_query_ece(qp.p, &e); rc != 0 {
		return ECE{}, errnoOf(rc, err)
	}
	return ECE{VendorID: uint32(e.vendor_id), Options: uint32(e.options)}, nil
}

// SetECE sets the ECE options the QP uses (ibv_set_ece), before it moves to RTR.
func (qp QP) SetECE(e ECE) error {
	c := C.struct_ibv_ece{vendor_id: C.uint32_t(e.VendorID), options: C.uint32_t(e.Options)}
	rc, err := C.ibv_set_ece(qp.p, &c)
	return errnoOf(rc, err)
}

// AttachMcast attaches the QP to the multicast group gid, lid (ibv_attach_mcast).
func (qp QP) AttachMcast(gid GID, lid uint16) error {
	rc, err := C.go_mcast(qp.p, *(*C.union_ibv_gid)(unsafe.Pointer(&gid)), C.uint16_t(lid), 1)
	return errnoOf(rc, err)
}

// DetachMcast detaches the QP from the multicast group gid, lid (ibv_detach_mcast).
func (qp QP) DetachMcast(gid GID, lid uint16) error {
	rc, err := C.go_mcast(qp.p, *(*C.union_ibv_gid)(unsafe.Pointer(&gid)), C.uint16_t(lid), 0)
	return errnoOf(rc, err)
}

// Query reads the attributes selected by mask and the creation capabilities
// (ibv_query_qp).
func (qp QP) Query(mask int) (QPAttr, QPCap, error) {
	var a C.struct_ibv_qp_attr
	var init C.struct_ibv_qp_init_attr
	if rc, err := C.ibv_query_qp(qp.p, &a, C.int(mask), &init); rc != 0 {
		return QPAttr{}, QPCap{}, errnoOf(rc, err)
	}
	return qpAttrFromC(&a), capFromC(init.cap), nil
}

// SendWR is one send work request, flattened (see go_send_wr).
type SendWR struct {
	ID         uint64
	RemoteAddr uint64
	CompareAdd uint64
	Swap       uint64
	AH         AH
	Opcode     uint32 // enum ibv_wr_opcode
	Flags      uint32 // enum ibv_send_flags
	Imm        uint32 // host order
	RKey       uint32 // also the rkey IBV_WR_LOCAL_INV and IBV_WR_SEND_WITH_INV invalidate
	RemoteQPN  uint32
	RemoteQKey uint32
	// MW, BindMR, BindAddr, BindLength and BindAccess are an
	// IBV_WR_BIND_MW request's window and struct ibv_mw_bind_info; RKey is
	// then the window's new rkey.
	MW         MW
	BindMR     MR
	BindAddr   uint64
	BindLength uint64
	BindAccess uint32 // enum ibv_access_flags
}

// SGE mirrors struct ibv_sge; the two layouts are the same.
type SGE struct {
	Addr   uint64
	Length uint32
	LKey   uint32
}

var (
	_ [unsafe.Sizeof(SGE{}) - C.sizeof_struct_ibv_sge]byte
	_ [C.sizeof_struct_ibv_sge - unsafe.Sizeof(SGE{})]byte
)

// Batch returns how many work requests one post call takes, and the most
// scatter/gather entries a send and a receive request may carry.
func (qp QP) Batch() (n, maxSendSGE, maxRecvSGE int) {
	return qp.post.batch, qp.post.maxSendSGE, qp.post.recv.maxSGE
}

// SetSend stores work request i of the next PostSend; sgl must hold at most
// the QP's max send SGEs (checked by the caller).
func (qp QP) SetSend(i int, wr *SendWR, sgl []SGE) {
	s := qp.post
	w := &unsafe.Slice(s.send, s.batch)[i]
	w.wr_id = C.uint64_t(wr.ID)
	w.remote_addr = C.uint64_t(wr.RemoteAddr)
	w.compare_add = C.uint64_t(wr.CompareAdd)
	w.swap = C.uint64_t(wr.Swap)
	w.ah = wr.AH.p
	w.opcode = C.uint32_t(wr.Opcode)
	w.send_flags = C.uint32_t(wr.Flags)
	w.imm = C.uint32_t(wr.Imm)
	w.rkey = C.uint32_t(wr.RKey)
	w.remote_qpn = C.uint32_t(wr.RemoteQPN)
	w.remote_qkey = C.uint32_t(wr.RemoteQKey)
	w.mw = wr.MW.p
	w.bind_mr = wr.BindMR.p
	w.bind_addr = C.uint64_t(wr.BindAddr)
	w.bind_length = C.uint64_t(wr.BindLength)
	w.bind_access = C.uint32_t(wr.BindAccess)
	w.num_sge = C.uint32_t(len(sgl))
	copy(unsafe.Slice((*SGE)(unsafe.Pointer(s.sendSGE)), s.batch*s.maxSendSGE)[i*s.maxSendSGE:], sgl)
}

// PostSend posts the first n requests stored with SetSend as one chain.
// On failure it returns the index of the request the provider refused.
func (qp QP) PostSend(n int) (int, error) {
	s := qp.post
	if n < 1 || n > s.batch {
		return 0, syscall.EINVAL
	}
	rc := C.go_post_send(cptr(unsafe.Pointer(qp.p)), cptr(unsafe.Pointer(s.send)), C.int(n), s.sendSGE, C.int(s.maxSendSGE),
		cptr(unsafe.Pointer(s.sendWR)), s.bad)
	return int(*s.bad), postErr(rc)
}

// SendList is a chain of send requests in C memory of its own, built once
// and posted many times: n struct ibv_send_wr, their scatter/gather entries
// (maxSGE per request) and the int a post reports a refused request in.
type SendList struct {
	block  unsafe.Pointer
	wrs    *C.struct_ibv_send_wr
	sges   *C.struct_ibv_sge
	bad    *C.int
	n      int
	maxSGE int
}

// NewSendList allocates a zeroed list of n requests of up to maxSGE entries.
func NewSendList(n, maxSGE int) (SendList, error) {
	if n < 1 || maxSGE < 0 || n > math.MaxInt32/max(maxSGE, 1) {
		return SendList{}, syscall.EINVAL
	}
	l := SendList{n: n, maxSGE: max(maxSGE, 1)}
	var wrs unsafe.Pointer
	var err error
	if l.block, wrs, l.sges, l.bad, err = listBlock(n, l.maxSGE, C.sizeof_struct_ibv_send_wr); err != nil {
		return SendList{}, err
	}
	l.wrs = (*C.struct_ibv_send_wr)(wrs)
	return l, nil
}

// listBlock allocates a list's C memory, zeroed: n requests of wrSize
// bytes, their scatter/gather entries (maxSGE each) and the int a post
// reports a refused request in. It returns the block and its parts.
func listBlock(n, maxSGE int, wrSize C.size_t) (block, wrs unsafe.Pointer, sges *C.struct_ibv_sge, bad *C.int, err error) {
	sizes := [3]C.size_t{C.size_t(n) * wrSize, C.size_t(n*maxSGE) * C.sizeof_struct_ibv_sge, C.sizeof_int}
	var offs [len(sizes)]C.size_t
	if block = C.go_block(&sizes[0], &offs[0], C.int(len(sizes))); block == nil {
		return nil, nil, nil, nil, syscall.ENOMEM
	}
	return block, unsafe.Add(block, offs[0]), (*C.struct_ibv_sge)(unsafe.Add(block, offs[1])), (*C.int)(unsafe.Add(block, offs[2])), nil
}

// Fill builds requests [off, off+n) of the list from the first n requests
// stored in qp with SetSend; the QP's max send SGEs must be the list's
// maxSGE. The list is filled in order, from off 0.
func (l SendList) Fill(qp QP, off, n int) error {
	s := qp.post
	if off < 0 || n < 1 || n > s.batch || n > l.n-off || s.maxSendSGE != l.maxSGE {
		return syscall.EINVAL
	}
	C.go_fill_send_list(cptr(unsafe.Pointer(l.wrs)), l.sges, C.int(off), cptr(unsafe.Pointer(s.send)), C.int(n),
		s.sendSGE, C.int(l.maxSGE))
	return nil
}

func (l SendList) wr(i int) *C.struct_ibv_send_wr { return &unsafe.Slice(l.wrs, l.n)[i] }

// SetID sets request i's wr_id.
func (l SendList) SetID(i int, id uint64) { l.wr(i).wr_id = C.uint64_t(id) }

// SetFlags sets request i's send_flags.
func (l SendList) SetFlags(i int, flags uint32) { l.wr(i).send_flags = C.uint(flags) }

// SetRemote sets request i's remote address and rkey; false when its opcode
// (not an RDMA read or write, nor an atomic) has none.
func (l SendList) SetRemote(i int, addr uint64, rkey uint32) bool {
	w := l.wr(i)
	var addrOff, rkeyOff uintptr
	switch w.opcode {
	case C.IBV_WR_RDMA_WRITE, C.IBV_WR_RDMA_WRITE_WITH_IMM, C.IBV_WR_RDMA_READ:
		addrOff, rkeyOff = C.go_wr_remote_addr_off, C.go_wr_rdma_rkey_off
	case C.IBV_WR_ATOMIC_CMP_AND_SWP, C.IBV_WR_ATOMIC_FETCH_AND_ADD:
		addrOff, rkeyOff = C.go_wr_atomic_addr_off, C.go_wr_atomic_rkey_off
	default:
		return false
	}
	*(*uint64)(unsafe.Add(unsafe.Pointer(w), addrOff)) = addr
	*(*uint32)(unsafe.Add(unsafe.Pointer(w), rkeyOff)) = rkey
	return true
}

// SetImm sets request i's immediate data (host order); false when its
// opcode carries none.
func (l SendList) SetImm(i int, imm uint32) bool {
	w := l.wr(i)
	if w.opcode != C.IBV_WR_SEND_WITH_IMM && w.opcode != C.IBV_WR_RDMA_WRITE_WITH_IMM {
		return false
	}
	binary.BigEndian.PutUint32((*[4]byte)(unsafe.Add(unsafe.Pointer(w), C.go_wr_imm_off))[:], imm)
	return true
}

// SGL returns request i's scatter/gather entries, in the list's memory.
func (l SendList) SGL(i int) []SGE {
	return unsafe.Slice((*SGE)(unsafe.Pointer(l.sges)), l.n*l.maxSGE)[i*l.maxSGE:][:l.wr(i).num_sge]
}

// Opcode returns request i's opcode.
func (l SendList) Opcode(i int) uint32 { return uint32(l.wr(i).opcode) }

// Flags returns request i's send_flags.
func (l SendList) Flags(i int) uint32 { return uint32(l.wr(i).send_flags) }

// SetSGE sets scatter/gather entry j of request i; false when the request
// has no entry j.
func (l SendList) SetSGE(i, j int, sge SGE) bool {
	if j < 0 || j >= int(l.wr(i).num_sge) {
		return false
	}
	unsafe.Slice((*SGE)(unsafe.Pointer(l.sges)), l.n*l.maxSGE)[i*l.maxSGE+j] = sge
	return true
}

// Post posts the first n requests of the list to qp in chains of per
// requests, one ibv_post_send each. On failure it returns the index of the
// request the provider refused; the chains before it were posted.
func (l SendList) Post(qp QP, n, per int) (int, error) {
	if n < 1 || n > l.n || per < 1 {
		return 0, syscall.EINVAL
	}
	rc := C.go_post_send_list(cptr(unsafe.Pointer(qp.p)), cptr(unsafe.Pointer(l.wrs)), C.int(n), C.int(per), l.bad)
	return int(*l.bad), postErr(rc)
}

// PostAfterPoll polls cq as PollSpin does and, when that gives completions,
// posts the first nr requests of recv (none when nr is 0) and, when they
// were taken, the first n requests of the list to qp as one chain, all in
// the same call. It returns the completions' count; with none, nothing was
// posted. An error with completions is a post's (inRecv: the receives',
// which stopped the sends; bad is the index of the request the provider
// refused), without them the poll's.
func (l SendList) PostAfterPoll(qp QP, cq CQ, wcs []WC, spins, n int, recv RecvList, nr int) (got, bad int, inRecv bool, err error) {
	m := min(len(wcs), cq.max)
	if m == 0 {
		return 0, 0, false, cq.lost()
	}
	if n < 1 || n > l.n || nr < 0 || nr > recv.n {
		return 0, 0, false, syscall.EINVAL
	}
	r := C.go_poll_post_send_list(cptr(unsafe.Pointer(cq.p)), cq.inv, C.int(m), (*C.go_wc)(unsafe.Pointer(&wcs[0])),
		C.int(spins), recv.q, recv.srq, cptr(unsafe.Pointer(recv.wrs)), C.int(nr), l.bad,
		cptr(unsafe.Pointer(qp.p)), cptr(unsafe.Pointer(l.wrs)), C.int(n), l.bad)
	switch {
	case r.got < 0:
		return 0, 0, false, syscall.EIO // ibv_poll_cq gives no errno
	case r.recv_rc != 0:
		return int(r.got), int(*l.bad), true, postErr(r.recv_rc)
	}
	return int(r.got), int(*l.bad), false, postErr(r.rc)
}

// Free frees the list's memory.
func (l SendList) Free() { C.free(l.block) }

// RecvList is a chain of receive requests for one QP or SRQ in C memory of
// its own, built once and posted many times: n struct ibv_recv_wr, chained
// in order, and their scatter/gather entries (maxSGE per request).
type RecvList struct {
	block  unsafe.Pointer
	wrs    *C.struct_ibv_recv_wr
	sges   *C.struct_ibv_sge
	bad    *C.int
	q      C.uintptr_t
	srq    C.int
	n      int
	maxSGE int
}

// NewRecvList allocates a list of n receive requests for the QP, of up to
// its max receive SGEs each; Set builds them.
func (qp QP) NewRecvList(n int) (RecvList, error) {
	return newRecvList(unsafe.Pointer(qp.p), 0, n, qp.post.recv.maxSGE)
}

// NewRecvList allocates a list of n receive requests for the SRQ, of up to
// its max SGEs each; Set builds them.
func (srq SRQ) NewRecvList(n int) (RecvList, error) {
	return newRecvList(unsafe.Pointer(srq.p), 1, n, srq.recv.maxSGE)
}

func newRecvList(q unsafe.Pointer, srq C.int, n, maxSGE int) (RecvList, error) {
	if n < 1 || maxSGE < 1 || n > math.MaxInt32/maxSGE {
		return RecvList{}, syscall.EINVAL
	}
	l := RecvList{q: cptr(q), srq: srq, n: n, maxSGE: maxSGE}
	var wrs unsafe.Pointer
	var err error
	if l.block, wrs, l.sges, l.bad, err = listBlock(n, maxSGE, C.sizeof_struct_ibv_recv_wr); err != nil {
		return RecvList{}, err
	}
	l.wrs = (*C.struct_ibv_recv_wr)(wrs)
	return l, nil
}

func (l RecvList) wr(i int) *C.struct_ibv_recv_wr { return &unsafe.Slice(l.wrs, l.n)[i] }

func (l RecvList) sgeArray() []SGE { return unsafe.Slice((*SGE)(unsafe.Pointer(l.sges)), l.n*l.maxSGE) }

// Set builds request i of the list, chained to request i+1, with the
// first entries of sgl that the list's max SGEs allow.
func (l RecvList) Set(i int, id uint64, sgl []SGE) {
	sgl = sgl[:min(len(sgl), l.maxSGE)]
	w := l.wr(i)
	w.wr_id = C.uint64_t(id)
	w.sg_list = &unsafe.Slice(l.sges, l.n*l.maxSGE)[i*l.maxSGE]
	w.num_sge = C.int(len(sgl))
	if i+1 < l.n {
		w.next = l.wr(i + 1)
	}
	copy(l.sgeArray()[i*l.maxSGE:], sgl)
}

// SetID sets request i's wr_id.
func (l RecvList) SetID(i int, id uint64) { l.wr(i).wr_id = C.uint64_t(id) }

// SGL returns request i's scatter/gather entries, in the list's memory.
func (l RecvList) SGL(i int) []SGE { return l.sgeArray()[i*l.maxSGE:][:l.wr(i).num_sge] }

// SetSGE sets scatter/gather entry j of request i; false when the request
// has no entry j.
func (l RecvList) SetSGE(i, j int, sge SGE) bool {
	if j < 0 || j >= int(l.wr(i).num_sge) {
		return false
	}
	l.sgeArray()[i*l.maxSGE+j] = sge
	return true
}

// Post posts the first n requests of the list as one chain (ibv_post_recv
// or ibv_post_srq_recv). On failure it returns the index of the request
// the provider refused; those before it were posted.
func (l RecvList) Post(n int) (int, error) {
	if n < 1 || n > l.n {
		return 0, syscall.EINVAL
	}
	rc := C.go_post_recv_list(l.q, l.srq, cptr(unsafe.Pointer(l.wrs)), C.int(n), l.bad)
	return int(*l.bad), postErr(rc)
}

// Free frees the list's memory.
func (l RecvList) Free() { C.free(l.block) }

// SetRecv stores receive request i of the next PostRecv.
func (qp QP) SetRecv(i int, id uint64, sgl []SGE) { qp.post.recv.set(i, id, sgl) }

// PostRecv posts the first n requests stored with SetRecv as one chain.
func (qp QP) PostRecv(n int) (int, error) { return qp.post.recv.post(unsafe.Pointer(qp.p), false, n) }

func capToC(c QPCap) C.struct_ibv_qp_cap {
	return C.struct_ibv_qp_cap{
		max_send_wr:     C.uint32_t(c.MaxSendWR),
		max_recv_wr:     C.uint32_t(c.MaxRecvWR),
		max_send_sge:    C.uint32_t(c.MaxSendSGE),
		max_recv_sge:    C.uint32_t(c.MaxRecvSGE),
		max_inline_data: C.uint32_t(c.MaxInlineData),
	}
}

func capFromC(c C.struct_ibv_qp_cap) QPCap {
	return QPCap{
		MaxSendWR:     uint32(c.max_send_wr),
		MaxRecvWR:     uint32(c.max_recv_wr),
		MaxSendSGE:    uint32(c.max_send_sge),
		MaxRecvSGE:    uint32(c.max_recv_sge),
		MaxInlineData: uint32(c.max_inline_data),
	}
}

func ahAttrToC(a *AHAttr) C.struct_ibv_ah_attr {
	var c C.struct_ibv_ah_attr
	*(*GID)(unsafe.Pointer(&c.grh.dgid)) = a.GRH.DGID
	c.grh.flow_label = C.uint32_t(a.GRH.FlowLabel)
	c.grh.sgid_index = C.uint8_t(a.GRH.SGIDIndex)
	c.grh.hop_limit = C.uint8_t(a.GRH.HopLimit)
	c.grh.traffic_class = C.uint8_t(a.GRH.TrafficClass)
	c.dlid = C.uint16_t(a.DLID)
	c.sl = C.uint8_t(a.SL)
	c.src_path_bits = C.uint8_t(a.SrcPathBits)
	c.static_rate = C.uint8_t(a.StaticRate)
	if a.IsGlobal {
		c.is_global = 1
	}
	c.port_num = C.uint8_t(a.PortNum)
	return c
}

func ahAttrFromC(c *C.struct_ibv_ah_attr) AHAttr {
	return AHAttr{
		GRH: GlobalRoute{
			DGID:         *(*GID)(unsafe.Pointer(&c.grh.dgid)),
			FlowLabel:    uint32(c.grh.flow_label),
			SGIDIndex:    uint8(c.grh.sgid_index),
			HopLimit:     uint8(c.grh.hop_limit),
			TrafficClass: uint8(c.grh.traffic_class),
		},
		DLID:        uint16(c.dlid),
		SL:          uint8(c.sl),
		SrcPathBits: uint8(c.src_path_bits),
		StaticRate:  uint8(c.static_rate),
		IsGlobal:    c.is_global != 0,
		PortNum:     uint8(c.port_num),
	}
}

func qpAttrToC(a *QPAttr) C.struct_ibv_qp_attr {
	var c C.struct_ibv_qp_attr
	c.qp_state = C.enum_ibv_qp_state(a.State)
	c.cur_qp_state = C.enum_ibv_qp_state(a.CurState)
	c.path_mtu = C.enum_ibv_mtu(a.PathMTU)
	c.path_mig_state = C.enum_ibv_mig_state(a.PathMigState)
	c.qkey = C.uint32_t(a.QKey)
	c.rq_psn = C.uint32_t(a.RQPSN)
	c.sq_psn = C.uint32_t(a.SQPSN)
	c.dest_qp_num = C.uint32_t(a.DestQPNum)
	c.qp_access_flags = C.uint(a.AccessFlags)
	c.cap = capToC(a.Cap)
	c.ah_attr = ahAttrToC(&a.AHAttr)
	c.alt_ah_attr = ahAttrToC(&a.AltAHAttr)
	c.pkey_index = C.uint16_t(a.PKeyIndex)
	c.alt_pkey_index = C.uint16_t(a.AltPKeyIndex)
	if a.EnSQDAsyncNotify {
		c.en_sqd_async_notify = 1
	}
	c.max_rd_atomic = C.uint8_t(a.MaxRdAtomic)
	c.max_dest_rd_atomic = C.uint8_t(a.MaxDestRdAtomic)
	c.min_rnr_timer = C.uint8_t(a.MinRNRTimer)
	c.port_num = C.uint8_t(a.PortNum)
	c.timeout = C.uint8_t(a.Timeout)
	c.retry_cnt = C.uint8_t(a.RetryCnt)
	c.rnr_retry = C.uint8_t(a.RNRRetry)
	c.alt_port_num = C.uint8_t(a.AltPortNum)
	c.alt_timeout = C.uint8_t(a.AltTimeout)
	c.rate_limit = C.uint32_t(a.RateLimit)
	return c
}

func qpAttrFromC(c *C.struct_ibv_qp_attr) QPAttr {
	return QPAttr{
		State:            int(c.qp_state),
		CurState:         int(c.cur_qp_state),
		PathMTU:          MTU(c.path_mtu),
		PathMigState:     int(c.path_mig_state),
		QKey:             uint32(c.qkey),
		RQPSN:            uint32(c.rq_psn),
		SQPSN:            uint32(c.sq_psn),
		DestQPNum:        uint32(c.dest_qp_num),
		AccessFlags:      int(c.qp_access_flags),
		Cap:              capFromC(c.cap),
		AHAttr:           ahAttrFromC(&c.ah_attr),
		AltAHAttr:        ahAttrFromC(&c.alt_ah_attr),
		PKeyIndex:        uint16(c.pkey_index),
		AltPKeyIndex:     uint16(c.alt_pkey_index),
		EnSQDAsyncNotify: c.en_sqd_async_notify != 0,
		SQDraining:       c.sq_draining != 0,
		MaxRdAtomic:      uint8(c.max_rd_atomic),
		MaxDestRdAtomic:  uint8(c.max_dest_rd_atomic),
		MinRNRTimer:      uint8(c.min_rnr_timer),
		PortNum:          uint8(c.port_num),
		Timeout:          uint8(c.timeout),
		RetryCnt:         uint8(c.retry_cnt),
		RNRRetry:         uint8(c.rnr_retry),
		AltPortNum:       uint8(c.alt_port_num),
		AltTimeout:       uint8(c.alt_timeout),
		RateLimit:        uint32(c.rate_limit),
	}
}

// AH is an address handle (struct ibv_ah *); the zero AH is "none".
type AH struct{ p *C.struct_ibv_ah }

// SRQ is a shared receive queue (struct ibv_srq *) with C scratch memory for
// posting chains of receive requests; the zero SRQ is "none".
type SRQ struct {
	p    *C.struct_ibv_srq
	recv *recvScratch
}

// SRQAttr mirrors struct ibv_srq_attr.
type SRQAttr struct {
	MaxWR    uint32
	MaxSGE   uint32
	SRQLimit uint32
}

// CreateSRQ creates a shared receive queue (ibv_create_srq); batch bounds
// the requests one PostRecv call hands to the provider. It returns the
// attributes the provider granted.
func (pd PD) CreateSRQ(attr SRQAttr, batch int) (SRQ, SRQAttr, error) {
	if batch < 1 || batch > MaxBatch {
		return SRQ{}, SRQAttr{}, syscall.EINVAL
	}
	var a C.struct_ibv_srq_init_attr
	a.attr.max_wr = C.uint32_t(attr.MaxWR)
	a.attr.max_sge = C.uint32_t(attr.MaxSGE)
	a.attr.srq_limit = C.uint32_t(attr.SRQLimit)
	r := C.go_create_srq(pd.p, a, C.int(batch))
	if r.srq == nil {
		return SRQ{}, SRQAttr{}, queueErr(errnoOf(r.err, nil))
	}
	got := SRQAttr{MaxWR: uint32(r.attr.max_wr), MaxSGE: uint32(r.attr.max_sge), SRQLimit: uint32(r.attr.srq_limit)}
	s := &recvScratch{batch: batch, maxSGE: max(int(got.MaxSGE), 1), block: r.block}
	s.place(r.block, r.offs[:])
	return SRQ{p: r.srq, recv: s}, got, nil
}

// Destroy destroys the SRQ (ibv_destroy_srq) and frees its scratch memory.
func (srq SRQ) Destroy() error {
	rc, err := C.go_destroy_srq(srq.p, srq.recv.block)
	return errnoOf(rc, err)
}

// ID identifies the SRQ in asynchronous events (its C address).
func (srq SRQ) ID() uintptr { return uintptr(unsafe.Pointer(srq.p)) }

// ArmLimit sets the limit below which the SRQ raises IBV_EVENT_SRQ_LIMIT_REACHED
// (ibv_modify_srq with IBV_SRQ_LIMIT).
func (srq SRQ) ArmLimit(limit uint32) error {
	var a C.struct_ibv_srq_attr
	a.srq_limit = C.uint32_t(limit)
	rc, err := C.ibv_modify_srq(srq.p, &a, C.IBV_SRQ_LIMIT)
	return errnoOf(rc, err)
}

// Query returns the SRQ's attributes (ibv_query_srq).
func (srq SRQ) Query() (SRQAttr, error) {
	var a C.struct_ibv_srq_attr
	if rc, err := C.ibv_query_srq(srq.p, &a); rc != 0 {
		return SRQAttr{}, errnoOf(rc, err)
	}
	return SRQAttr{MaxWR: uint32(a.max_wr), MaxSGE: uint32(a.max_sge), SRQLimit: uint32(a.srq_limit)}, nil
}

// Batch returns how many requests one PostRecv takes and their most SGEs.
func (srq SRQ) Batch() (n, maxSGE int) { return srq.recv.batch, srq.recv.maxSGE }

// SetRecv stores receive request i of the next PostRecv.
func (srq SRQ) SetRecv(i int, id uint64, sgl []SGE) { srq.recv.set(i, id, sgl) }

// PostRecv posts the first n requests stored with SetRecv as one chain
// (ibv_post_srq_recv); on failure it returns the index of the refused one.
func (srq SRQ) PostRecv(n int) (int, error) { return srq.recv.post(unsafe.Pointer(srq.p), true, n) }
