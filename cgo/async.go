package cgo

/*
#include <stdint.h>
#include <infiniband/verbs.h>

// go_async_event is struct ibv_async_event without its union: the object an
// event is about as an address (an identifier only, never dereferenced by Go),
// and the event itself for its ack.
typedef struct {
	uintptr_t obj;
	uint32_t type, qp_num;
	int32_t port;
	struct ibv_async_event ev;
} go_async_event;

// go_get_async_event reads one event from the (non-blocking) async fd and
// copies it; it is acked with go_ack_async_event. Returns -1 with errno set
// (EAGAIN: none pending).
static inline int go_get_async_event(struct ibv_context *ctx, go_async_event *out) {
	struct ibv_async_event ev;
	if (ibv_get_async_event(ctx, &ev))
		return -1;
	out->ev = ev;
	out->obj = 0;
	out->type = ev.event_type;
	out->qp_num = 0;
	out->port = 0;
	switch (ev.event_type) {
	case IBV_EVENT_QP_FATAL:
	case IBV_EVENT_QP_REQ_ERR:
	case IBV_EVENT_QP_ACCESS_ERR:
	case IBV_EVENT_COMM_EST:
	case IBV_EVENT_SQ_DRAINED:
	case IBV_EVENT_PATH_MIG:
	case IBV_EVENT_PATH_MIG_ERR:
	case IBV_EVENT_QP_LAST_WQE_REACHED:
		out->obj = (uintptr_t)ev.element.qp;
		out->qp_num = ev.element.qp->qp_num;
		break;
	case IBV_EVENT_CQ_ERR:
		out->obj = (uintptr_t)ev.element.cq;
		break;
	case IBV_EVENT_SRQ_ERR:
	case IBV_EVENT_SRQ_LIMIT_REACHED:
		out->obj = (uintptr_t)ev.element.srq;
		break;
	case IBV_EVENT_WQ_FATAL:
		out->obj = (uintptr_t)ev.element.wq;
		break;
	default:
		out->port = ev.element.port_num;
	}
	return 0;
}

// go_ack_async_event acks the event of e, taken by value: the ack reads the
// event's type and object only.
static inline void go_ack_async_event(go_async_event e) { ibv_ack_async_event(&e.ev); }
*/
import "C"

// EventType is an asynchronous event's type (enum ibv_event_type).
type EventType uint32

// Asynchronous event types.
const (
	EventCQErr            EventType = C.IBV_EVENT_CQ_ERR
	EventQPFatal          EventType = C.IBV_EVENT_QP_FATAL
	EventQPReqErr         EventType = C.IBV_EVENT_QP_REQ_ERR
	EventQPAccessErr      EventType = C.IBV_EVENT_QP_ACCESS_ERR
	EventCommEst          EventType = C.IBV_EVENT_COMM_EST
	EventSQDrained        EventType = C.IBV_EVENT_SQ_DRAINED
	EventPathMig          EventType = C.IBV_EVENT_PATH_MIG
	EventPathMigErr       EventType = C.IBV_EVENT_PATH_MIG_ERR
	EventDeviceFatal      EventType = C.IBV_EVENT_DEVICE_FATAL
	EventPortActive       EventType = C.IBV_EVENT_PORT_ACTIVE
	EventPortErr          EventType = C.IBV_EVENT_PORT_ERR
	EventLIDChange        EventType = C.IBV_EVENT_LID_CHANGE
	EventPKeyChange       EventType = C.IBV_EVENT_PKEY_CHANGE
	EventSMChange         EventType = C.IBV_EVENT_SM_CHANGE
	EventSRQErr           EventType = C.IBV_EVENT_SRQ_ERR
	EventSRQLimitReached  EventType = C.IBV_EVENT_SRQ_LIMIT_REACHED
	EventQPLastWQEReached EventType = C.IBV_EVENT_QP_LAST_WQE_REACHED
	EventClientReregister EventType = C.IBV_EVENT_CLIENT_REREGISTER
	EventGIDChange        EventType = C.IBV_EVENT_GID_CHANGE
	EventWQFatal          EventType = C.IBV_EVENT_WQ_FATAL
)

// String is ibv_event_type_str, e.g. "local work queue catastrophic error".
func (t EventType) String() string {
	return C.GoString(C.ibv_event_type_str(C.enum_ibv_event_type(t)))
}

// AsyncEvent is one asynchronous event, copied; Ack acknowledges it.
type AsyncEvent struct {
	Type  EventType
	Obj   uintptr // the QP, CQ, SRQ or WQ it is about, as its ID; 0 for port and device events
	QPNum uint32  // for QP events
	Port  int     // for port events
	raw   C.go_async_event
}

// GetAsyncEvent reads one pending event (ibv_get_async_event); EAGAIN when
// none is pending on the non-blocking fd. Until it is acked, destroying the
// object it names waits, so that no other object takes its address: look
// the object up, then Ack.
func (c Context) GetAsyncEvent() (AsyncEvent, error) {
	var e AsyncEvent
	if rc, err := C.go_get_async_event(c.p, &e.raw); rc != 0 {
		return AsyncEvent{}, nonNil(err)
	}
	e.Type, e.Obj, e.QPNum, e.Port = EventType(e.raw._type), uintptr(e.raw.obj), uint32(e.raw.qp_num), int(e.raw.port)
	return e, nil
}

// Ack acknowledges the event (ibv_ack_async_event), once.
func (e *AsyncEvent) Ack() { C.go_ack_async_event(e.raw) }
