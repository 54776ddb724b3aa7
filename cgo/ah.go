package cgo

/*
#include <infiniband/verbs.h>

// go_init_ah_from_wc rebuilds the struct ibv_wc fields ibv_init_ah_from_wc
// reads from the flattened completion and fills attr.
static inline int go_init_ah_from_wc(struct ibv_context *ctx, uint8_t port, uint32_t wc_flags, uint32_t src_qp,
		uint16_t slid, uint8_t sl, uint8_t dlid_path_bits, uint16_t pkey_index, uint32_t qp_num,
		void *grh, struct ibv_ah_attr *attr) {
	struct ibv_wc wc = {0};
	wc.wc_flags = wc_flags;
	wc.src_qp = src_qp;
	wc.slid = slid;
	wc.sl = sl;
	wc.dlid_path_bits = dlid_path_bits;
	wc.pkey_index = pkey_index;
	wc.qp_num = qp_num;
	return ibv_init_ah_from_wc(ctx, port, &wc, grh, attr);
}
*/
import "C"

import "unsafe"

// GRHSize is the size of the global routing header a UD receive buffer
// starts with (struct ibv_grh).
const GRHSize = C.sizeof_struct_ibv_grh

// CreateAH creates an address handle (ibv_create_ah).
func (pd PD) CreateAH(attr *AHAttr) (AH, error) {
	a := ahAttrToC(attr)
	ah, err := C.ibv_create_ah(pd.p, &a)
	if ah == nil {
		return AH{}, nonNil(err)
	}
	return AH{p: ah}, nil
}

// Destroy destroys the address handle (ibv_destroy_ah).
func (ah AH) Destroy() error {
	rc, err := C.ibv_destroy_ah(ah.p)
	return errnoOf(rc, err)
}

// InitAHFromWC returns the address vector that replies to the sender of a
// UD completion (ibv_init_ah_from_wc). grh points at the GRHSize bytes the
// receive buffer starts with; it is read during the call only.
func (c Context) InitAHFromWC(port uint8, wc *WC, grh unsafe.Pointer) (AHAttr, error) {
	var a C.struct_ibv_ah_attr
	rc, err := C.go_init_ah_from_wc(c.p, C.uint8_t(port), C.uint32_t(wc.Flags), C.uint32_t(wc.SrcQP),
		C.uint16_t(wc.SLID), C.uint8_t(wc.SL), C.uint8_t(wc.DLIDPathBits), C.uint16_t(wc.PKeyIndex),
		C.uint32_t(wc.QPNum), grh, &a)
	if rc != 0 {
		return AHAttr{}, errnoOf(rc, err)
	}
	return ahAttrFromC(&a), nil
}
