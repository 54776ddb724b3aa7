// Polling and posting shared by the CQ, QP and MW shims (cq.go, qp.go, mw.go).

#ifndef GO_RDMA_POLL_H
#define GO_RDMA_POLL_H

#include <endian.h>
#include <stdint.h>
#include <infiniband/verbs.h>

// go_not_ready is what the post shims return for a QP in a state that
// takes no such requests (go_refuses).
enum { go_not_ready = -1000 };

// go_refuses tells whether qp, an IB or RoCE QP, is in a state that takes
// no send requests (RESET, INIT, RTR) or, for receives, no receive requests
// (RESET), as libibverbs last recorded it (ibv_modify_qp, ibv_query_qp; the
// device moves a QP on to SQE or ERR only, which take both). rxe queues a
// send posted before RTS although its doorbell fails, and sends it once the
// QP reaches RTS: refused, then sent. The kernel's iWARP connection manager
// moves iWARP QPs, and siw reports no state: their record says nothing.
static inline int go_refuses(struct ibv_qp *qp, int send) {
	return qp->state < (send ? IBV_QPS_RTS : IBV_QPS_INIT) &&
	       qp->context->device->transport_type == IBV_TRANSPORT_IB;
}

// go_wc is struct ibv_wc without unions, immediate data in host order; it has
// the layout of the Go type WC.
typedef struct {
	uint64_t wr_id;
	uint32_t status, opcode, vendor_err, byte_len, imm, qp_num, src_qp, wc_flags;
	uint16_t pkey_index, slid;
	uint8_t sl, dlid_path_bits;
} go_wc;

// go_copy_wc converts n completions from wc into out; inv is the flag by
// which the provider says a completion invalidated an rkey, reported as
// IBV_WC_WITH_INV (rxe writes the kernel's flags: see the Go WCWithInv).
static inline void go_copy_wc(int n, struct ibv_wc *wc, go_wc *out, uint32_t inv) {
	for (int i = 0; i < n; i++) {
		uint32_t flags = wc[i].wc_flags;
		out[i].wr_id = wc[i].wr_id;
		out[i].status = wc[i].status;
		out[i].opcode = wc[i].opcode;
		out[i].vendor_err = wc[i].vendor_err;
		out[i].byte_len = wc[i].byte_len;
		out[i].imm = (flags & IBV_WC_WITH_IMM) ? be32toh(wc[i].imm_data) : wc[i].invalidated_rkey;
		out[i].qp_num = wc[i].qp_num;
		out[i].src_qp = wc[i].src_qp;
		out[i].wc_flags = (flags & inv) ? (flags & ~inv) | IBV_WC_WITH_INV : flags;
		out[i].pkey_index = wc[i].pkey_index;
		out[i].slid = wc[i].slid;
		out[i].sl = wc[i].sl;
		out[i].dlid_path_bits = wc[i].dlid_path_bits;
	}
}

// GO_POLL_CHUNK is how many completions go_poll_cq takes per ibv_poll_cq,
// into an array on its own stack: a poll shares no memory with another
// poll of the same CQ.
#define GO_POLL_CHUNK 64

// go_poll_cq polls the CQ up to spins times, until it returns something, for
// up to n completions into out. Spinning here rather than in Go saves a cgo
// call per empty poll. A full chunk is followed by another poll, up to n.
// Negative: the first poll failed. The CQ comes as uintptr_t, as the QP of
// go_post_send does; inv is go_copy_wc's.
static inline int go_poll_cq(uintptr_t cqp, int n, go_wc *out, int spins, uint32_t inv) {
	struct ibv_cq *cq = (struct ibv_cq *)cqp;
	struct ibv_wc wc[GO_POLL_CHUNK];
	int got = 0;
	for (int i = 0; i < spins && got == 0; i++) {
		for (;;) {
			int want = n - got < GO_POLL_CHUNK ? n - got : GO_POLL_CHUNK;
			int r = ibv_poll_cq(cq, want, wc);
			if (r < 0)
				return got > 0 ? got : r;
			go_copy_wc(r, wc, out + got, inv);
			got += r;
			if (r < want || got == n)
				break;
		}
	}
	return got;
}

#endif
