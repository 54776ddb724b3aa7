package verbs

import (
	"sync"

	"github.com/go-rdma/rdma/cgo"
)

// PD is a protection domain (struct ibv_pd): memory regions and queue pairs
// made from one PD may work together.
type PD struct {
	life
	ctx *Context
	raw cgo.PD

	mrMu sync.RWMutex
	mrs  map[uint32]*MR // open regions by lkey
}

// AllocPD allocates a protection domain (ibv_alloc_pd).
func (c *Context) AllocPD() (*PD, error) {
	var pd *PD
	err := c.use("ibv_alloc_pd", "", func(raw cgo.Context) error {
		p, err := raw.AllocPD()
		if err != nil {
			return err
		}
		pd = &PD{life: born(), ctx: c, raw: p, mrs: make(map[uint32]*MR)}
		c.children.Add(1)
		return nil
	})
	return pd, err
}

// Context returns the device the PD belongs to.
func (pd *PD) Context() *Context {
	if pd == nil {
		return nil
	}
	return pd.ctx
}

// Close frees the PD (ibv_dealloc_pd); EBUSY while its MRs, QPs, SRQs, AHs
// or MWs are open.
func (pd *PD) Close() error {
	if pd == nil {
		return opError("ibv_dealloc_pd", "", ErrClosed)
	}
	err := pd.close(pd.raw.Dealloc)
	if err == nil {
		pd.ctx.children.Add(-1)
	}
	return opError("ibv_dealloc_pd", pd.name(), err)
}

// name is the device's name, for errors; empty for a nil or zero PD.
func (pd *PD) name() string {
	if pd == nil {
		return ""
	}
	return pd.ctx.Name()
}

// use runs f with the raw PD while it is guaranteed to stay open.
func (pd *PD) use(op string, f func(cgo.PD) error) error {
	if pd == nil {
		return opError(op, "", ErrClosed)
	}
	if !pd.acquire() {
		return opError(op, pd.name(), ErrClosed)
	}
	defer pd.release()
	return opError(op, pd.name(), f(pd.raw))
}

// addMR records mr as the PD's region of lkey.
func (pd *PD) addMR(mr *MR, lkey uint32) {
	pd.mrMu.Lock()
	defer pd.mrMu.Unlock()
	pd.mrs[lkey] = mr
}

// dropMR forgets mr as the region of lkey.
func (pd *PD) dropMR(mr *MR, lkey uint32) {
	pd.mrMu.Lock()
	defer pd.mrMu.Unlock()
	if pd.mrs[lkey] == mr {
		delete(pd.mrs, lkey)
	}
}

// mrOf returns the open region of the PD whose lkey is lkey, nil for none.
// The caller holds it open before using it, and checks it with contains.
func (pd *PD) mrOf(lkey uint32) *MR {
	pd.mrMu.RLock()
	defer pd.mrMu.RUnlock()
	return pd.mrs[lkey]
}
