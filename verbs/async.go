package verbs

import (
	"errors"
	"os"
	"syscall"

	"github.com/go-rdma/rdma/cgo"
	"github.com/go-rdma/rdma/internal/fdwait"
)

// EventType is an asynchronous event's type (enum ibv_event_type); String
// gives ibv_event_type_str.
type EventType = cgo.EventType

// Asynchronous event types.
const (
	EventCQErr            = cgo.EventCQErr
	EventQPFatal          = cgo.EventQPFatal
	EventQPReqErr         = cgo.EventQPReqErr
	EventQPAccessErr      = cgo.EventQPAccessErr
	EventCommEst          = cgo.EventCommEst
	EventSQDrained        = cgo.EventSQDrained
	EventPathMig          = cgo.EventPathMig
	EventPathMigErr       = cgo.EventPathMigErr
	EventDeviceFatal      = cgo.EventDeviceFatal
	EventPortActive       = cgo.EventPortActive
	EventPortErr          = cgo.EventPortErr
	EventLIDChange        = cgo.EventLIDChange
	EventPKeyChange       = cgo.EventPKeyChange
	EventSMChange         = cgo.EventSMChange
	EventSRQErr           = cgo.EventSRQErr
	EventSRQLimitReached  = cgo.EventSRQLimitReached
	EventQPLastWQEReached = cgo.EventQPLastWQEReached
	EventClientReregister = cgo.EventClientReregister
	EventGIDChange        = cgo.EventGIDChange
	EventWQFatal          = cgo.EventWQFatal
)

// AsyncEvent is an asynchronous event of a device (struct ibv_async_event),
// already acknowledged. At most one of QP, CQ and SRQ is set: the object the
// event is about, when it was open as the event was read (it may have been
// closed since); Port is set for port events.
type AsyncEvent struct {
	Type  EventType
	QP    *QP
	QPNum uint32 // the QP's number, for QP events (kept when QP is nil)
	// QP, CQ and SRQ are the object the event names, found by its
	// address before the event is acknowledged (until then the object
	// cannot be destroyed and its address reused); nil when it was being
	// closed.
	CQ   *CQ
	SRQ  *SRQ
	Port int
}

// eventLoop is the goroutine that reads a context's async fd.
type eventLoop struct {
	ch   chan AsyncEvent
	file *os.File // a dup of the async fd, registered with the netpoller
	stop chan struct{}
	done chan struct{}
}

// Events returns the channel on which the context delivers its asynchronous
// events (QP fatal and access errors, port active/down, CQ errors, SRQ limit
// reached, …). The first call starts one goroutine that waits on the
// context's async fd through Go's netpoller (no OS thread is blocked), copies
// each event, finds the QP, CQ or SRQ it names and acknowledges it at once
// (ibv_ack_async_event), before handing it on. Every call
// returns the same channel; it is closed when the context is closed. Events
// wait in the kernel until read: a reader that stops reading delays nothing
// but the events behind.
func (c *Context) Events() (<-chan AsyncEvent, error) {
	var ch <-chan AsyncEvent
	err := c.use("ibv_get_async_event", "", func(raw cgo.Context) error {
		c.eventsMu.Lock()
		defer c.eventsMu.Unlock()
		if c.events == nil {
			file, err := fdwait.File(raw.AsyncFD(), "async_fd")
			if err != nil {
				return err
			}
			c.events = &eventLoop{ch: make(chan AsyncEvent, 16), file: file, stop: make(chan struct{}), done: make(chan struct{})}
			go c.readEvents(raw, c.events)
		}
		ch = c.events.ch
		return nil
	})
	return ch, err
}

// readEvents delivers the events of raw until l is stopped. It does not hold
// the context's lock: Close stops it before closing the device.
func (c *Context) readEvents(raw cgo.Context, l *eventLoop) {
	defer close(l.done)
	defer close(l.ch)
	for {
		var ev cgo.AsyncEvent
		// A failed read is tried again: the channel closes with the context.
		err := fdwait.WaitRetry(l.file, func() (bool, error) {
			var err error
			ev, err = raw.GetAsyncEvent()
			if errors.Is(err, syscall.EAGAIN) {
				return false, nil
			}
			return true, err
		})
		if err != nil {
			return
		}
		e := c.typed(ev)
		ev.Ack()
		select {
		case l.ch <- e:
		case <-l.stop:
			return
		}
	}
}

// typed resolves the object an event names to its Go object.
func (c *Context) typed(ev cgo.AsyncEvent) AsyncEvent {
	e := AsyncEvent{Type: ev.Type, QPNum: ev.QPNum, Port: ev.Port}
	if ev.Obj == 0 {
		return e
	}
	o := c.object(ev.Obj)
	switch o := o.(type) {
	case *QP:
		// Not acked yet, the event's object cannot be destroyed and its
		// address reused: the object registered under it is the one.
		e.QP = o
	case *CQ:
		e.CQ = o
	case *SRQ:
		e.SRQ = o
	}
	return e
}

// stopEvents ends the event goroutine, if any, and waits for it.
func (c *Context) stopEvents() {
	c.eventsMu.Lock()
	defer c.eventsMu.Unlock()
	if c.events == nil {
		return
	}
	close(c.events.stop)
	c.events.file.Close()
	<-c.events.done
	c.events = nil
}

// unregistered runs destroy with obj removed from c's event registry under
// id, and puts it back if destroy fails. Removing it first means a new object
// that reuses the address after destroy is never removed by mistake.
func unregistered(c *Context, id uintptr, obj any, destroy func() error) error {
	c.objMu.Lock()
	delete(c.objects, id)
	c.objMu.Unlock()
	if err := destroy(); err != nil {
		c.register(id, obj)
		return err
	}
	return nil
}

// register records obj as the object events name by id.
func (c *Context) register(id uintptr, obj any) {
	c.objMu.Lock()
	c.objects[id] = obj
	c.objMu.Unlock()
}

// object is the registered object of id, nil if none.
func (c *Context) object(id uintptr) any {
	c.objMu.Lock()
	defer c.objMu.Unlock()
	return c.objects[id]
}
