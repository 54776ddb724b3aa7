package verbs

import (
	"errors"
	"os"
	"sync"
	"syscall"

	"github.com/go-rdma/rdma/cgo"
	"github.com/go-rdma/rdma/internal/fdwait"
)

// compChannel is a context's completion channel (struct ibv_comp_channel),
// shared by all the context's CQs, as C programs share one among many CQs:
// a channel per CQ would cost a descriptor and two more system calls per
// CreateCQ (ibv_create_comp_channel is among the slowest verbs in a
// multi-threaded process, as every Go process is). It is made by the first
// CreateCQ; the first Wait on any of the CQs starts one goroutine that waits
// on its descriptor through the netpoller, reads each event, acknowledges it
// at once and wakes the CQ it names.
type compChannel struct {
	raw cgo.CompChannel

	mu   sync.Mutex
	file *os.File      // a dup of the channel fd, registered with the netpoller by the first Wait
	done chan struct{} // closed when the reading goroutine has returned
}

// compChannel returns the context's completion channel, made on first use;
// the caller has acquired the context.
func (c *Context) compChannel(raw cgo.Context) (cgo.CompChannel, error) {
	c.compMu.Lock()
	defer c.compMu.Unlock()
	if c.comp == nil {
		ch, err := raw.CreateCompChannel()
		if err != nil {
			return cgo.CompChannel{}, err
		}
		c.comp = &compChannel{raw: ch}
	}
	return c.comp.raw, nil
}

// watchCompletions starts the goroutine that reads the completion channel,
// unless it runs already; the caller holds a CQ of the context, so the
// channel exists and the context is open.
func (c *Context) watchCompletions() error {
	c.compMu.Lock()
	ch := c.comp
	c.compMu.Unlock()
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.file != nil {
		return nil
	}
	file, err := fdwait.File(ch.raw.FD(), "comp_channel")
	if err != nil {
		return err
	}
	ch.file, ch.done = file, make(chan struct{})
	go c.readCompletions(ch)
	return nil
}

// readCompletions wakes the CQ of each completion event until the channel's
// file is closed; a failed read is tried again.
func (c *Context) readCompletions(ch *compChannel) {
	defer close(ch.done)
	var ids [readBatch]uintptr
	fdwait.WaitRetry(ch.file, func() (bool, error) {
		for {
			n, err := ch.raw.GetEvents(ids[:])
			for _, id := range ids[:n] {
				// A CQ destroyed since its event was read is no longer
				// registered: its event goes nowhere.
				if cq, ok := c.object(id).(*CQ); ok {
					cq.notify()
				}
			}
			if errors.Is(err, syscall.EAGAIN) {
				return false, nil
			}
			if err != nil {
				return true, err
			}
		}
	})
}

// readBatch is how many completion events the reader takes in per call
// into C.
const readBatch = 16

// closeCompChannel stops the reading goroutine and destroys the channel;
// Context.Close calls it once every CQ is destroyed.
func (c *Context) closeCompChannel() error {
	c.compMu.Lock()
	defer c.compMu.Unlock()
	ch := c.comp
	if ch == nil {
		return nil
	}
	ch.mu.Lock()
	if ch.file != nil {
		ch.file.Close()
		<-ch.done
		ch.file = nil
	}
	ch.mu.Unlock()
	if err := ch.raw.Destroy(); err != nil {
		return err
	}
	c.comp = nil
	return nil
}
