package verbs

import (
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
)

// life is the lifecycle every verbs object shares: calls hold it for reading
// while they use the C object, Close takes it for writing, and an object with
// live children refuses to close (EBUSY) instead of freeing memory they use.
// Only a constructor opens it (born), so the zero value of an object, which
// has no C object behind it, behaves as a closed one.
type life struct {
	mu       sync.RWMutex
	open     bool
	children atomic.Int32
}

// born is the life of a newly created object.
func born() life { return life{open: true} }

// acquire locks l for a call; false (and nothing held) when l is closed.
func (l *life) acquire() bool {
	l.mu.RLock()
	if !l.open {
		l.mu.RUnlock()
		return false
	}
	return true
}

func (l *life) release() { l.mu.RUnlock() }

// errBusy is the error of an object a call cannot hold without waiting: a
// Close or another exclusive call (MR.Rereg, CQ.Resize) is under way on it.
var errBusy = fmt.Errorf("being closed or changed: %w", syscall.EAGAIN)

// tryAcquire is acquire for a call that already holds other objects' lives:
// it fails with errBusy, instead of waiting, while a Close (or another
// exclusive call) waits for l or holds it. Two calls holding objects in
// opposite orders would otherwise each wait behind a Close of what the
// other holds. A closed l gives ErrClosed.
func (l *life) tryAcquire() error {
	if !l.mu.TryRLock() {
		return errBusy
	}
	if !l.open {
		l.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

// exclusive runs f with l locked for writing, so that no call uses the
// object meanwhile; ErrClosed when l is closed.
func (l *life) exclusive(f func() error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.open {
		return ErrClosed
	}
	return f()
}

// close runs destroy once, when no child is alive, and marks l closed.
func (l *life) close(destroy func() error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.open {
		return ErrClosed
	}
	if n := l.children.Load(); n > 0 {
		return fmt.Errorf("%d dependent objects still open: %w", n, syscall.EBUSY)
	}
	if err := destroy(); err != nil {
		return err
	}
	l.open = false
	return nil
}
