package verbs

import (
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

// SendWR is a send work request (struct ibv_send_wr).
type SendWR struct {
	ID     uint64
	Opcode WROpcode
	Flags  SendFlags
	// SGL is the local memory the request reads (sends, writes, inline) or
	// writes (reads, atomics: 8 bytes for the original remote value).
	SGL []SGE
	// Imm is the immediate data of the *WithImm opcodes, in host order.
	Imm uint32
	// RemoteAddr and RKey name the peer's memory for RDMA and atomics.
	RemoteAddr uint64
	RKey       uint32
	// CompareAdd is the value compared (CmpAndSwp) or added (FetchAndAdd);
	// Swap the value written when the comparison matches.
	CompareAdd uint64
	Swap       uint64
}

// RecvWR is a receive work request (struct ibv_recv_wr).
type RecvWR struct {
	ID  uint64
	SGL []SGE
}

// PostError reports a post that the provider (or validation) refused at
// work request Index: requests before it were posted, the rest were not.
type PostError struct {
	Op    string
	Index int
	Err   error
}

func (e *PostError) Error() string {
	return fmt.Sprintf("verbs: %s: work request %d: %v", e.Op, e.Index, e.Err)
}

// Unwrap returns the cause.
func (e *PostError) Unwrap() error { return e.Err }

// PostSend posts wrs as chains of up to the QP's batch, one call into
// libibverbs per chain. It allocates nothing on success.
func (qp *QP) PostSend(wrs []SendWR) error {
	if qp == nil || !qp.acquire() {
		return opError("ibv_post_send", qp.name(), ErrClosed)
	}
	defer qp.release()
	if len(wrs) == 0 {
		return &PostError{Op: "ibv_post_send", Err: fmt.Errorf("no work requests: %w", syscall.EINVAL)}
	}
	qp.postMu.Lock()
	defer qp.postMu.Unlock()
	batch, maxSGE, _ := qp.raw.Batch()
	for base := 0; base < len(wrs); base += batch {
		chain := wrs[base:min(base+batch, len(wrs))]
		for i := range chain {
			wr := &chain[i]
			if len(wr.SGL) > maxSGE {
				return &PostError{Op: "ibv_post_send", Index: base + i,
					Err: fmt.Errorf("%d SGEs, the QP takes %d: %w", len(wr.SGL), maxSGE, syscall.EINVAL)}
			}
			raw := cgo.SendWR{
				ID: wr.ID, RemoteAddr: wr.RemoteAddr, CompareAdd: wr.CompareAdd, Swap: wr.Swap,
				Opcode: uint32(wr.Opcode), Flags: uint32(wr.Flags), Imm: wr.Imm, RKey: wr.RKey,
			}
			qp.raw.SetSend(i, &raw, wr.SGL)
		}
		if bad, err := qp.raw.PostSend(len(chain)); err != nil {
			return &PostError{Op: "ibv_post_send", Index: base + bad, Err: err}
		}
	}
	return nil
}

// PostRecv posts wrs as chains of up to the QP's batch, one call into
// libibverbs per chain. It allocates nothing on success.
func (qp *QP) PostRecv(wrs []RecvWR) error {
	if qp == nil || !qp.acquire() {
		return opError("ibv_post_recv", qp.name(), ErrClosed)
	}
	defer qp.release()
	if len(wrs) == 0 {
		return &PostError{Op: "ibv_post_recv", Err: fmt.Errorf("no work requests: %w", syscall.EINVAL)}
	}
	qp.postMu.Lock()
	defer qp.postMu.Unlock()
	batch, _, maxSGE := qp.raw.Batch()
	for base := 0; base < len(wrs); base += batch {
		chain := wrs[base:min(base+batch, len(wrs))]
		for i := range chain {
			if len(chain[i].SGL) > maxSGE {
				return &PostError{Op: "ibv_post_recv", Index: base + i,
					Err: fmt.Errorf("%d SGEs, the QP takes %d: %w", len(chain[i].SGL), maxSGE, syscall.EINVAL)}
			}
			qp.raw.SetRecv(i, chain[i].ID, chain[i].SGL)
		}
		if bad, err := qp.raw.PostRecv(len(chain)); err != nil {
			return &PostError{Op: "ibv_post_recv", Index: base + bad, Err: err}
		}
	}
	return nil
}
