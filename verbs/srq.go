package verbs

import (
	"fmt"
	"sync"
	"syscall"

	"github.com/go-rdma/rdma/cgo"
)

// SRQAttr holds a shared receive queue's attributes (struct ibv_srq_attr):
// its size, the most SGEs a request may carry, and its armed limit.
type SRQAttr = cgo.SRQAttr

// SRQInitAttr describes a shared receive queue to create.
type SRQInitAttr struct {
	MaxWR  int // receive requests the SRQ holds
	MaxSGE int // scatter/gather entries per request
	// Limit, when not 0, is passed to ibv_create_srq as the SRQ limit. rxe
	// and siw arm the limit event with it; libibverbs' manual calls it
	// irrelevant at creation, so on other providers call ArmLimit. It is
	// at most MaxWR (rxe would take more, and raise the event at the first
	// receive it takes).
	Limit int
	// Batch bounds the requests handed to the provider in one call (default
	// min(MaxWR, 64); never more than MaxBatch).
	Batch int
}

// SRQ is a shared receive queue (struct ibv_srq): QPs created with it take
// their receive requests from it.
type SRQ struct {
	life
	pd     *PD
	raw    cgo.SRQ
	postMu sync.Mutex // serializes use of the raw SRQ's post scratch
}

// CreateSRQ creates a shared receive queue (ibv_create_srq).
func (pd *PD) CreateSRQ(attr *SRQInitAttr) (*SRQ, error) {
	var srq *SRQ
	err := pd.use("ibv_create_srq", func(raw cgo.PD) error {
		if attr == nil || attr.MaxWR <= 0 || attr.MaxSGE < 0 || attr.Limit < 0 || attr.Batch < 0 || attr.Batch > MaxBatch ||
			attr.MaxWR > 1<<31 || attr.MaxSGE > 1<<31 || attr.Limit > attr.MaxWR {
			return fmt.Errorf("SRQInitAttr %+v: %w", attr, syscall.EINVAL)
		}
		batch := attr.Batch
		if batch == 0 {
			batch = min(attr.MaxWR, 64)
		}
		r, _, err := raw.CreateSRQ(cgo.SRQAttr{MaxWR: uint32(attr.MaxWR), MaxSGE: uint32(max(attr.MaxSGE, 1)),
			SRQLimit: uint32(attr.Limit)}, batch)
		if err != nil {
			return err
		}
		srq = &SRQ{life: born(), pd: pd, raw: r}
		pd.children.Add(1)
		pd.ctx.register(r.ID(), srq)
		return nil
	})
	return srq, err
}

func (srq *SRQ) name() string {
	if srq == nil {
		return ""
	}
	return srq.pd.name() + " SRQ"
}

func (srq *SRQ) use(op string, f func(cgo.SRQ) error) error {
	if srq == nil || !srq.acquire() {
		return opError(op, srq.name(), ErrClosed)
	}
	defer srq.release()
	if err := f(srq.raw); err != nil {
		return opError(op, srq.name(), err)
	}
	return nil
}

// PostRecv posts wrs as chains of up to the SRQ's batch, one call into
// libibverbs per chain (ibv_post_srq_recv), each entry inside an open region
// of the SRQ's PD (as QP.PostRecv's). It allocates nothing on success.
func (srq *SRQ) PostRecv(wrs []RecvWR) error {
	const op = "ibv_post_srq_recv"
	if srq == nil || !srq.acquire() {
		return opError(op, srq.name(), ErrClosed)
	}
	defer srq.release()
	srq.postMu.Lock()
	defer srq.postMu.Unlock()
	batch, maxSGE := srq.raw.Batch()
	return postRecv(op, srq.pd, srq.raw, batch, maxSGE, wrs)
}

// ArmLimit arms the SRQ limit event: when fewer than limit receive requests
// remain posted, the context delivers EventSRQLimitReached once and the
// limit is disarmed (ibv_modify_srq).
func (srq *SRQ) ArmLimit(limit int) error {
	return srq.use("ibv_modify_srq", func(raw cgo.SRQ) error {
		if limit < 0 || limit > 1<<31 {
			return fmt.Errorf("limit %d: %w", limit, syscall.EINVAL)
		}
		return raw.ArmLimit(uint32(limit))
	})
}

// Query returns the SRQ's attributes (ibv_query_srq); SRQLimit is 0 when
// the limit is not armed.
func (srq *SRQ) Query() (*SRQAttr, error) {
	var a SRQAttr
	err := srq.use("ibv_query_srq", func(raw cgo.SRQ) (err error) {
		a, err = raw.Query()
		return err
	})
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// Close destroys the SRQ (ibv_destroy_srq); EBUSY while QPs or RecvLists
// use it.
func (srq *SRQ) Close() error {
	if srq == nil {
		return opError("ibv_destroy_srq", "", ErrClosed)
	}
	err := srq.close(func() error { return unregistered(srq.pd.ctx, srq.raw.ID(), srq, srq.raw.Destroy) })
	if err != nil {
		return opError("ibv_destroy_srq", srq.name(), err)
	}
	srq.pd.children.Add(-1)
	return nil
}
