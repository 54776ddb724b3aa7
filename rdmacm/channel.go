package rdmacm

import (
	"errors"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/go-rdma/rdma/cgo"
	"github.com/go-rdma/rdma/internal/fdwait"
)

// channel is one rdma_cm event channel: a non-blocking descriptor waited on
// by Go's netpoller from one goroutine, which reads each event, acks it at
// once and hands a copy to the connector or listener it is for. A Listener
// and the connectors of its requests share one; all active Connectors share
// another (see activeChannel). The channel is destroyed when its last user
// is, or, with a linger, that long after.
type channel struct {
	raw    cgo.EventChannel
	file   *os.File
	linger time.Duration

	mu        sync.Mutex
	ids       map[cgo.ID]*Connector
	listeners map[cgo.ID]listening
	users     int
	idle      *time.Timer   // runs expire, once the lingering channel has no user
	down      bool          // closing: no user may come back
	done      chan struct{} // closed when the reading goroutine has destroyed the channel
}

func newChannel() (*channel, error) {
	raw, err := cgo.CreateEventChannel()
	if err != nil {
		return nil, err
	}
	file, err := fdwait.File(raw.FD(), "rdma_cm")
	if err != nil {
		raw.Destroy()
		return nil, err
	}
	ch := &channel{raw: raw, file: file, ids: map[cgo.ID]*Connector{}, listeners: map[cgo.ID]listening{}, done: make(chan struct{})}
	go ch.run()
	return ch, nil
}

// active is the event channel of the active Connectors, made by the first
// and destroyed activeLinger after the last, as C programs (cmtime, rping)
// put all their identifiers on one channel: a channel per connector would
// cost a descriptor, its epoll registration and a reader per connection,
// and so would a channel per connection for a program that connects one
// connection at a time.
var active struct {
	mu sync.Mutex
	ch *channel
}

// activeLinger is how long the active channel outlives its last user.
const activeLinger = time.Second

// activeChannel returns the active Connectors' channel, held for the caller.
func activeChannel() (*channel, error) {
	active.mu.Lock()
	defer active.mu.Unlock()
	if ch := active.ch; ch != nil && ch.tryHold() {
		return ch, nil
	}
	ch, err := newChannel()
	if err != nil {
		return nil, err
	}
	ch.linger = activeLinger
	ch.hold()
	active.ch = ch
	return ch, nil
}

// tryHold counts a user unless the channel is on its way down.
func (ch *channel) tryHold() bool {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.down {
		return false
	}
	ch.users++
	return true
}

// createID makes an identifier (for UD if ud) on the channel and counts it
// as a user.
func (ch *channel) createID(ud bool) (cgo.ID, error) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	id, err := ch.raw.CreateID(ud)
	if err != nil {
		return cgo.ID{}, err
	}
	ch.users++
	return id, nil
}

// newActive makes an active Connector with an identifier on the channel,
// registered for its events, all under one lock. The identifier takes over
// the caller's hold on the channel.
func (ch *channel) newActive(ud bool) (*Connector, error) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	id, err := ch.raw.CreateID(ud)
	if err != nil {
		return nil, err
	}
	c := newConnector(ch, id)
	c.ud = ud
	ch.ids[id] = c
	return c, nil
}

// destroyID destroys id and releases the channel.
func (ch *channel) destroyID(id cgo.ID) error {
	err := ch.destroy(id)
	ch.release()
	return err
}

// destroy forgets id and destroys it, without releasing the channel. In
// that order: the moment rdma_destroy_id frees the identifier, a request
// the reader takes in can get the same address, and forgetting afterwards
// would drop the new connector's registration, and with it all its events.
func (ch *channel) destroy(id cgo.ID) error {
	ch.mu.Lock()
	delete(ch.ids, id)
	delete(ch.listeners, id)
	ch.mu.Unlock()
	return id.Destroy()
}

// hold counts a user of the channel beyond its identifiers (a Listener,
// which may be paused with none).
func (ch *channel) hold() {
	ch.mu.Lock()
	ch.users++
	ch.mu.Unlock()
}

// release drops a user; the last one takes the channel down, or leaves
// that to expire after the channel's linger.
func (ch *channel) release() {
	ch.mu.Lock()
	ch.users--
	switch {
	case ch.users > 0:
	case ch.linger > 0 && ch.idle == nil:
		ch.idle = time.AfterFunc(ch.linger, ch.expire)
	case ch.linger > 0:
		ch.idle.Reset(ch.linger)
	default:
		ch.down = true
	}
	down := ch.down
	ch.mu.Unlock()
	if down {
		// Wakes run, which destroys the channel once it stops reading.
		ch.file.Close()
	}
}

// expire takes a lingering channel down unless a user came back.
func (ch *channel) expire() {
	ch.mu.Lock()
	down := ch.users == 0 && !ch.down
	ch.down = ch.down || down
	ch.mu.Unlock()
	if down {
		ch.file.Close()
	}
}

// listening is a listening identifier's Listener and the listen it belongs
// to (Listener.gen): a Pause and a Resume may give a new identifier the
// address of the one an event was read for.
type listening struct {
	l   *Listener
	gen uint64
}

func (ch *channel) registerListener(id cgo.ID, l *Listener, gen uint64) {
	ch.mu.Lock()
	ch.listeners[id] = listening{l, gen}
	ch.mu.Unlock()
}

func (ch *channel) run() {
	defer close(ch.done)
	defer ch.raw.Destroy()
	var ev cgo.CMEvent
	// Until the file is closed (the last user left): a failed read is
	// tried again, as the channel must outlive its identifiers.
	fdwait.WaitRetry(ch.file, func() (bool, error) {
		for {
			// One event per call, read and looked up under ch.mu, then
			// dispatched at once. An event is acked when it is read, and
			// from then on its identifier can be destroyed (Close) and a
			// new one take its address; the new one registers under
			// ch.mu, so the lookup still finds the event's own owner (or
			// none), never the newcomer. Events read ahead in a batch
			// could reach it.
			ch.mu.Lock()
			err := ch.raw.GetEvent(&ev)
			if err != nil {
				ch.mu.Unlock()
				if errors.Is(err, syscall.EAGAIN) {
					return false, nil
				}
				return true, err
			}
			ch.dispatch(&ev)
		}
	})
}

// dispatch hands a copy of ev to whoever owns its identifier; it is called
// with ch.mu held and releases it. A connection request becomes a new
// Connector on this channel, queued on its Listener.
func (ch *channel) dispatch(ev *cgo.CMEvent) {
	if ev.Event == cgo.CMEventConnectRequest {
		if ch.down {
			// The channel's last user left while the request was on its
			// way, and the channel goes once this reader stops: refuse
			// the request now, while the channel is there.
			ch.mu.Unlock()
			rejectEmpty(ev.ID)
			ev.ID.Destroy()
			return
		}
		l := ch.listeners[ev.ListenID].l
		ch.users++
		c := newPassive(ch, ev)
		ch.ids[ev.ID] = c
		ch.mu.Unlock()
		if l == nil || !l.enqueue(c) {
			// Nobody to take it (listener closed or paused between the
			// request and now, or its backlog full): refuse it, off this
			// goroutine. Reject and rdma_destroy_id take time, and while
			// they run no event is read: requests the kernel cannot queue
			// then are dropped (IB CM retries them seconds later), and the
			// last Close of the channel would wait for this very reader.
			go c.refuse()
		}
		return
	}
	c, l := ch.ids[ev.ID], ch.listeners[ev.ID]
	ch.mu.Unlock()
	switch {
	case c != nil:
		c.deliver(ev)
	case l.l != nil && ev.Event == cgo.CMEventDeviceRemoval:
		l.l.deviceRemoved(ev, l.gen)
	}
}
