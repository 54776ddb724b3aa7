package cgo

/*
#include <infiniband/verbs.h>
#include "poll.h"

// go_bind_mw binds a type 1 window through qp (ibv_bind_mw); length 0
// unbinds it. A bind is a send request: refused before RTS as go_post_chain
// refuses one (rxe's provider posts it through the same queue).
static inline int go_bind_mw(struct ibv_qp *qp, struct ibv_mw *mw, uint64_t wr_id, unsigned int flags,
		struct ibv_mr *mr, uint64_t addr, uint64_t length, unsigned int access) {
	if (go_refuses(qp, 1))
		return go_not_ready;
	struct ibv_mw_bind b = {
		.wr_id = wr_id,
		.send_flags = flags,
		.bind_info = {.mr = mr, .addr = addr, .length = length, .mw_access_flags = access},
	};
	return ibv_bind_mw(qp, mw, &b);
}
*/
import "C"

// Memory window types (enum ibv_mw_type).
const (
	MWType1 = C.IBV_MW_TYPE_1
	MWType2 = C.IBV_MW_TYPE_2
)

// MW is a memory window (struct ibv_mw *); the zero MW is "none".
type MW struct{ p *C.struct_ibv_mw }

// AllocMW allocates a memory window of type typ (ibv_alloc_mw); EOPNOTSUPP
// when the provider has no memory windows.
func (pd PD) AllocMW(typ int) (MW, error) {
	mw, err := C.ibv_alloc_mw(pd.p, C.enum_ibv_mw_type(typ))
	if mw == nil {
		return MW{}, nonNil(err)
	}
	return MW{p: mw}, nil
}

// Dealloc frees the window (ibv_dealloc_mw).
func (mw MW) Dealloc() error {
	rc, err := C.ibv_dealloc_mw(mw.p)
	return errnoOf(rc, err)
}

// RKey is the window's current remote key as libibverbs holds it.
func (mw MW) RKey() uint32 { return uint32(mw.p.rkey) }

// SetRKey records the rkey a type 2 window took in a bind request: rxe's
// provider names the window by it in the next bind (or the kernel refuses
// that bind).
func (mw MW) SetRKey(rkey uint32) { mw.p.rkey = C.uint32_t(rkey) }

// BindMW binds the type 1 window mw to length bytes at addr of mr with
// access (ibv_bind_mw), as a send request of qp with ID id and flags;
// length 0 unbinds it. The provider gives the window its new rkey (RKey)
// when the request is posted.
func (qp QP) BindMW(mw MW, id uint64, flags uint32, mr MR, addr, length uint64, access int) error {
	rc := C.go_bind_mw(qp.p, mw.p, C.uint64_t(id), C.uint(flags), mr.p, C.uint64_t(addr), C.uint64_t(length), C.uint(access))
	return postErr(rc)
}
