package verbs

import (
	"fmt"
	"syscall"
	"unsafe"

	"github.com/go-rdma/rdma/cgo"
)

// GRHSize is the size of the global routing header (struct ibv_grh) that
// starts every UD receive buffer: a UD receive needs GRHSize bytes more than
// the message. On RoCE v2 over IPv4 its last 20 bytes hold the IPv4 header.
const GRHSize = cgo.GRHSize

// AH is an address handle (struct ibv_ah): the destination of UD sends.
type AH struct {
	life
	pd  *PD
	raw cgo.AH
}

// CreateAH creates an address handle for attr (ibv_create_ah). On RoCE the
// address must be global (IsGlobal, GRH.DGID and GRH.SGIDIndex), and the
// kernel resolves the destination's Ethernet address: for one not in the
// neighbour table yet the call waits for ARP or neighbour discovery, up to
// a second (Linux 6.1), and cannot be interrupted. A program that must not
// wait resolves the address first (rdmacm's UD lookups do).
func (pd *PD) CreateAH(attr *AHAttr) (*AH, error) {
	var ah *AH
	err := pd.use("ibv_create_ah", func(raw cgo.PD) error {
		if attr == nil {
			return fmt.Errorf("nil AHAttr: %w", syscall.EINVAL)
		}
		r, err := raw.CreateAH(attr)
		if err != nil {
			return err
		}
		ah = &AH{life: born(), pd: pd, raw: r}
		pd.children.Add(1)
		return nil
	})
	return ah, err
}

// InitAHFromWC returns the address vector that replies to the sender of a
// UD receive completion wc, received on port (ibv_init_ah_from_wc). grh is
// the start of that receive's buffer: at least GRHSize bytes.
func (c *Context) InitAHFromWC(port int, wc *WorkCompletion, grh []byte) (*AHAttr, error) {
	var a AHAttr
	err := c.use("ibv_init_ah_from_wc", fmt.Sprintf(" port %d", port), func(raw cgo.Context) (err error) {
		if err := checkPort(port); err != nil {
			return err
		}
		if wc == nil || len(grh) < GRHSize {
			return fmt.Errorf("a work completion and %d bytes of GRH needed: %w", GRHSize, syscall.EINVAL)
		}
		a, err = raw.InitAHFromWC(uint8(port), wc, unsafe.Pointer(&grh[0]))
		return err
	})
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// CreateAHFromWC creates the address handle that replies to the sender of a
// UD receive completion (ibv_create_ah_from_wc); see InitAHFromWC.
func (pd *PD) CreateAHFromWC(port int, wc *WorkCompletion, grh []byte) (*AH, error) {
	if pd == nil || !pd.acquire() {
		return nil, opError("ibv_create_ah_from_wc", pd.name(), ErrClosed)
	}
	pd.release()
	attr, err := pd.ctx.InitAHFromWC(port, wc, grh)
	if err != nil {
		return nil, err
	}
	return pd.CreateAH(attr)
}

// Close destroys the address handle (ibv_destroy_ah). It waits for a
// PostSend that uses it to return.
func (ah *AH) Close() error {
	if ah == nil {
		return opError("ibv_destroy_ah", "", ErrClosed)
	}
	err := ah.close(ah.raw.Destroy)
	if err == nil {
		ah.pd.children.Add(-1)
	}
	return opError("ibv_destroy_ah", ah.pd.name(), err)
}
