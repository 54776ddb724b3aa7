package fdwait

import (
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// pipe returns the read end of a pipe as a File from File, and the write end.
func pipe(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	f, err := File(int(r.Fd()), "pipe")
	if err != nil {
		t.Fatal(err)
	}
	return f, w
}

// read drains one byte from fd, reporting EAGAIN as not done.
func read(fd uintptr) func() (bool, error) {
	return func() (bool, error) {
		var b [1]byte
		_, err := unix.Read(int(fd), b[:])
		if errors.Is(err, unix.EAGAIN) {
			return false, nil
		}
		return true, err
	}
}

// TestCloseWakesWait: closing the File wakes a blocked Wait with ErrClosed,
// and a Wait on an already closed File returns ErrClosed too.
func TestCloseWakesWait(t *testing.T) {
	f, _ := pipe(t)
	fd := f.Fd() // before Close, which the read of the File's descriptor would race with
	done := make(chan error, 1)
	go func() { done <- Wait(f, read(fd)) }()
	time.Sleep(50 * time.Millisecond)
	f.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Wait after Close: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait still blocked after Close")
	}
	if err := Wait(f, read(0)); !errors.Is(err, ErrClosed) {
		t.Errorf("Wait on a closed File: %v, want ErrClosed", err)
	}
}

// TestWaitConcurrent runs waits, writes and a Close at once (run it with
// -race): every Wait returns, with data or ErrClosed.
func TestWaitConcurrent(t *testing.T) {
	f, w := pipe(t)
	fd := f.Fd()
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := Wait(f, read(fd))
			if err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, unix.EBADF) {
				t.Errorf("Wait: %v", err)
			}
		}()
		if i%4 == 0 {
			w.Write([]byte{1})
		}
	}
	time.Sleep(20 * time.Millisecond)
	f.Close()
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("waits still blocked after Close")
	}
}

// TestWaitRetry: WaitRetry tries a failed try again until it is done, and
// a try that keeps failing ends once the file is closed.
func TestWaitRetry(t *testing.T) {
	f, w := pipe(t)
	fd := f.Fd()
	if _, err := w.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	calls := 0
	err := WaitRetry(f, func() (bool, error) {
		if calls++; calls <= 2 {
			return true, unix.ENOMEM
		}
		return read(fd)()
	})
	if err != nil || calls != 3 {
		t.Fatalf("WaitRetry: %v after %d calls, want nil after 3", err, calls)
	}

	done := make(chan error, 1)
	go func() { done <- WaitRetry(f, func() (bool, error) { return true, unix.EIO }) }()
	w.Write([]byte{2})
	time.Sleep(50 * time.Millisecond)
	f.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("WaitRetry with a failing try, file closed: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitRetry with a failing try did not end when the file was closed")
	}
}
