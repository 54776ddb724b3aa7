package verbs

import (
	"fmt"
	"sync"
	"syscall"
)

// listLock is the lock and the state that SendList and RecvList share.
type listLock struct {
	mu     sync.Mutex
	closed bool
	n      int // the list's requests
}

// named is a list, which names its queue in errors.
type named interface{ name() string }

// lockOpen locks the list for a call; ErrClosed, unlocked, when it is
// closed or is the zero list (built false).
func (k *listLock) lockOpen(op string, list named, built bool) error {
	k.mu.Lock()
	if k.closed || !built {
		k.mu.Unlock()
		return opError(op, list.name(), ErrClosed)
	}
	return nil
}

// span checks that request i (0 … n-1) or, with first, the first i
// requests (1 … n) are in the list.
func (k *listLock) span(op string, list named, i int, first bool) error {
	switch {
	case first && (i < 1 || i > k.n):
		return opError(op, list.name(), fmt.Errorf("%d requests of a list of %d: %w", i, k.n, syscall.EINVAL))
	case !first && (i < 0 || i >= k.n):
		return opError(op, list.name(), fmt.Errorf("request %d of a list of %d: %w", i, k.n, syscall.EINVAL))
	}
	return nil
}

// lock is lockOpen and span: the list locked for a call on request i, or
// on the first i requests when first.
func (k *listLock) lock(op string, list named, built bool, i int, first bool) error {
	if err := k.lockOpen(op, list, built); err != nil {
		return err
	}
	if err := k.span(op, list, i, first); err != nil {
		k.mu.Unlock()
		return err
	}
	return nil
}

// listRegions holds the region of each entry of a list (request i's entry
// j at i*maxSGE+j, nil for none), each pinned (MR.pinList) while named.
type listRegions []*MR

// set makes mr, pinned already (or nil), the region of entry k, unpinning
// the one it replaces.
func (r listRegions) set(k int, mr *MR) {
	if old := r[k]; old != nil {
		old.pinList(-1)
	}
	r[k] = mr
}

// release unpins every entry's region.
func (r listRegions) release() {
	for k := range r {
		r.set(k, nil)
	}
}
