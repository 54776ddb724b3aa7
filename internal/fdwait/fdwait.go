// Package fdwait waits on the event descriptors of rdma-core (completion
// channels, rdma_cm event channels, the async event fd) through Go's
// netpoller, so that no OS thread blocks per object.
package fdwait

import (
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// ErrClosed is returned by Wait when the File was closed during or before the wait.
var ErrClosed = os.ErrClosed

// File makes fd non-blocking and returns a dup of it registered with the
// netpoller. fd itself stays owned by rdma-core; closing the File (which
// wakes any Wait) leaves it open.
func File(fd int, name string) (*os.File, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, err
	}
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(dup), name), nil
}

// Wait calls try each time file is readable until try reports done (its
// error is returned) or file is closed (ErrClosed). Blocking calls with a
// context wait elsewhere, on what the reader of an event channel hands on:
// one goroutine per channel waits here, for as long as the channel lives.
func Wait(file *os.File, try func() (done bool, err error)) error {
	rc, err := file.SyscallConn()
	if err != nil {
		return err
	}
	var tryErr error
	err = rc.Read(func(uintptr) bool {
		var done bool
		done, tryErr = try()
		return done
	})
	if err == nil {
		return tryErr
	}
	// A raw read of a closed file fails with internal/poll's
	// ErrFileClosing, which Stat reports as os.ErrClosed.
	if _, serr := file.Stat(); errors.Is(serr, os.ErrClosed) {
		return ErrClosed
	}
	return err
}

// RetryPause is how long WaitRetry first pauses before trying again after
// try failed; the pause doubles while the failures go on, up to
// MaxRetryPause.
const (
	RetryPause    = 10 * time.Millisecond
	MaxRetryPause = time.Second
)

// WaitRetry is Wait for the goroutine that reads an event channel for as
// long as its objects live, which must not stop on a failed read: an error
// from try (librdmacm failing to allocate an event, ENOMEM, before it takes
// the event from the kernel, say) is tried again after a pause. It returns
// nil once try is done, ErrClosed once file is closed.
func WaitRetry(file *os.File, try func() (done bool, err error)) error {
	for pause := RetryPause; ; pause = min(2*pause, MaxRetryPause) {
		err := Wait(file, try)
		if err == nil || errors.Is(err, ErrClosed) {
			return err
		}
		time.Sleep(pause)
	}
}
