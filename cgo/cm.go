package cgo

/*
#cgo LDFLAGS: -lrdmacm
#cgo noescape rdma_create_id
#cgo nocallback rdma_create_id
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <netinet/in.h>
#include <rdma/rdma_cma.h>

// go_cm_event is one rdma_cm event copied out of librdmacm, so that the event
// can be acked at once; it has the layout of the Go type CMEvent.
typedef struct {
	struct rdma_cm_id *id;
	struct rdma_cm_id *listen_id;
	int32_t event;
	int32_t status;
	uint32_t qp_num;
	uint8_t responder_resources, initiator_depth, private_data_len, srq;
	uint8_t private_data[256];
	uint32_t qkey, pad2;
	uint64_t join; // multicast events: the token JoinMulticast passed as the join's context
	struct ibv_ah_attr ah_attr;
	struct { uint32_t vendor_id, options; } ece; // a request's or connect response's ECE
} go_cm_event;

enum { go_cm_event_ah_off = offsetof(go_cm_event, ah_attr) };

// go_get_cm_event reads one event (the channel is non-blocking: EAGAIN when
// none is pending), copies it into out and acks it.
static inline int go_get_cm_event(struct rdma_event_channel *ch, go_cm_event *out) {
	struct rdma_cm_event *ev;
	if (rdma_get_cm_event(ch, &ev))
		return -1;
	memset(out, 0, sizeof(*out));
	out->id = ev->id;
	out->listen_id = ev->listen_id;
	out->event = ev->event;
	out->status = ev->status;
	if (ev->id->ps != RDMA_PS_UDP) {
		struct rdma_conn_param *c = &ev->param.conn;
		out->qp_num = c->qp_num;
		out->responder_resources = c->responder_resources;
		out->initiator_depth = c->initiator_depth;
		out->srq = c->srq;
		if (c->private_data && c->private_data_len) {
			out->private_data_len = c->private_data_len;
			memcpy(out->private_data, c->private_data, c->private_data_len);
		}
		// librdmacm keeps a request's or response's ECE on the identifier
		// (of an identifier without its own QP: ours never have one).
		struct ibv_ece ece = {0};
		if ((ev->event == RDMA_CM_EVENT_CONNECT_REQUEST || ev->event == RDMA_CM_EVENT_CONNECT_RESPONSE) &&
		    rdma_get_remote_ece(ev->id, &ece) == 0) {
			out->ece.vendor_id = ece.vendor_id;
			out->ece.options = ece.options;
		}
	} else if (ev->event != RDMA_CM_EVENT_MULTICAST_JOIN && ev->event != RDMA_CM_EVENT_MULTICAST_ERROR) {
		// A multicast event's private_data is the join's context, not data.
		struct rdma_ud_param *u = &ev->param.ud;
		out->qp_num = u->qp_num;
		out->qkey = u->qkey;
		out->ah_attr = u->ah_attr;
		if (u->private_data && u->private_data_len) {
			out->private_data_len = u->private_data_len;
			memcpy(out->private_data, u->private_data, u->private_data_len);
		}
	} else {
		out->join = (uintptr_t)ev->param.ud.private_data;
		out->qp_num = ev->param.ud.qp_num;
		out->qkey = ev->param.ud.qkey;
		out->ah_attr = ev->param.ud.ah_attr;
	}
	rdma_ack_cm_event(ev);
	return 0;
}

// go_cm_ready moves qp through the states first..last (INIT, RTR, RTS) with
// the attributes rdma_init_qp_attr computes for id, max_dest_rd_atomic (at
// RTR) and max_rd_atomic (at RTS) replaced by resp and init when they are
// not negative, then calls rdma_accept with param (then == 1) or
// rdma_establish (then == 2): what librdmacm's rdma_accept and
// CONNECT_RESPONSE handling do for a QP of rdma_create_qp, in one call from
// Go. Its result comes back by value, so that nothing of the Go caller's
// escapes to the heap: reached is the last state applied (0: none); on
// failure rc is -1, err the errno and failed names the call: 0
// rdma_init_qp_attr, 1 ibv_modify_qp, 2 the rdma_cm call.
typedef struct {
	int rc, err, reached, failed;
} go_ready;

// go_conn is struct rdma_conn_param with its private data inline: Go hands
// it over by value, with nothing to allocate or free in C, and the shims
// point param.private_data at their copy.
typedef struct {
	struct rdma_conn_param param;
	uint8_t private_data[255];
	uint32_t ece_vendor_id, ece_options; // sent when the vendor ID is not 0
} go_conn;

static inline struct rdma_conn_param *go_conn_param(go_conn *c) {
	c->param.private_data = c->param.private_data_len ? c->private_data : NULL;
	return &c->param;
}

// go_conn_ece sets the ECE c sends, if any, on id (rdma_set_local_ece).
static inline int go_conn_ece(struct rdma_cm_id *id, const go_conn *c) {
	if (!c->ece_vendor_id)
		return 0;
	struct ibv_ece ece = {.vendor_id = c->ece_vendor_id, .options = c->ece_options};
	return rdma_set_local_ece(id, &ece);
}

static inline go_ready go_cm_ready(struct rdma_cm_id *id, struct ibv_qp *qp, int first, int last, int resp, int init,
		int then, go_conn conn) {
	go_ready r = {0};
	for (int s = first; s <= last; s++) {
		struct ibv_qp_attr attr;
		int mask, rc;
		memset(&attr, 0, sizeof(attr));
		attr.qp_state = s;
		r.failed = 0;
		errno = 0;
		if (rdma_init_qp_attr(id, &attr, &mask)) {
			r.rc = -1;
			r.err = errno ? errno : EIO;
			return r;
		}
		if (s == IBV_QPS_RTR && resp >= 0)
			attr.max_dest_rd_atomic = resp;
		if (s == IBV_QPS_RTS && init >= 0)
			attr.max_rd_atomic = init;
		r.failed = 1;
		errno = 0;
		rc = ibv_modify_qp(qp, &attr, mask);
		if (rc) {
			r.rc = -1;
			r.err = rc > 0 ? rc : (rc < -1 ? -rc : (errno ? errno : EIO));
			return r;
		}
		r.reached = s;
	}
	r.failed = 2;
	errno = 0;
	switch (then) {
	case 1:
		r.rc = go_conn_ece(id, &conn);
		if (!r.rc)
			r.rc = rdma_accept(id, go_conn_param(&conn));
		break;
	case 2:
		r.rc = rdma_establish(id);
		break;
	}
	if (r.rc)
		r.err = errno ? errno : EIO;
	return r;
}

// go_cm_connect, go_cm_accept and go_cm_reject take the connection
// parameters by value, for the same reason.
static inline int go_cm_connect(struct rdma_cm_id *id, go_conn conn) {
	return go_conn_ece(id, &conn) ? -1 : rdma_connect(id, go_conn_param(&conn));
}

static inline int go_cm_accept(struct rdma_cm_id *id, go_conn conn) {
	return go_conn_ece(id, &conn) ? -1 : rdma_accept(id, go_conn_param(&conn));
}

// go_cm_reject rejects with the reason "consumer reject", or with vendor
// "option not supported" (rdma_reject_ece) when ece is not 0.
static inline int go_cm_reject(struct rdma_cm_id *id, go_conn conn, int ece) {
	struct rdma_conn_param *p = go_conn_param(&conn);
	if (ece)
		return rdma_reject_ece(id, p->private_data, p->private_data_len);
	return rdma_reject(id, p->private_data, p->private_data_len);
}


// go_bind_addr and go_resolve_addr take their addresses by value, built on
// Go's stack: one call into C, with nothing to allocate or free in C.
// librdmacm copies the addresses; it keeps no pointer to them.
static inline int go_bind_addr(struct rdma_cm_id *id, struct sockaddr_storage addr) {
	return rdma_bind_addr(id, (struct sockaddr *)&addr);
}

// go_mcast_join joins the multicast group addr with token as the join's
// context (rdma_join_multicast), or leaves it (rdma_leave_multicast) when
// token is 0; the address by value.
static inline int go_mcast_join(struct rdma_cm_id *id, struct sockaddr_storage addr, uint64_t token) {
	if (!token)
		return rdma_leave_multicast(id, (struct sockaddr *)&addr);
	return rdma_join_multicast(id, (struct sockaddr *)&addr, (void *)(uintptr_t)token);
}

// go_set_option_u8 and go_set_option_int set an RDMA_OPTION_ID option
// (rdma_set_option) from a value, so that no Go memory is handed to C.
static inline int go_set_option_u8(struct rdma_cm_id *id, int name, uint8_t v) {
	return rdma_set_option(id, RDMA_OPTION_ID, name, &v, sizeof v);
}

static inline int go_set_option_int(struct rdma_cm_id *id, int name, int v) {
	return rdma_set_option(id, RDMA_OPTION_ID, name, &v, sizeof v);
}

static inline int go_resolve_addr(struct rdma_cm_id *id, int has_src, struct sockaddr_storage src,
		struct sockaddr_storage dst, int timeout_ms) {
	return rdma_resolve_addr(id, has_src ? (struct sockaddr *)&src : NULL, (struct sockaddr *)&dst, timeout_ms);
}
*/
import "C"

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"unsafe"
)

// EventChannel is an rdma_cm event channel (struct rdma_event_channel *).
type EventChannel struct{ p *C.struct_rdma_event_channel }

// CreateEventChannel opens an event channel (rdma_create_event_channel).
func CreateEventChannel() (EventChannel, error) {
	ch, err := C.rdma_create_event_channel()
	if ch == nil {
		return EventChannel{}, nonNil(err)
	}
	return EventChannel{p: ch}, nil
}

// FD is the channel's file descriptor.
func (ch EventChannel) FD() int { return int(ch.p.fd) }

// Destroy closes the channel (rdma_destroy_event_channel).
func (ch EventChannel) Destroy() { C.rdma_destroy_event_channel(ch.p) }

// CMEvent is one rdma_cm event, already acked. Its layout is go_cm_event's.
type CMEvent struct {
	ID                 ID
	ListenID           ID
	Event              int32 // enum rdma_cm_event_type
	Status             int32
	QPNum              uint32
	ResponderResources uint8
	InitiatorDepth     uint8
	PrivateDataLen     uint8
	SRQ                uint8 // the peer's QP takes its receives from an SRQ (IB CM's flag)
	PrivateData        [256]byte
	QKey               uint32 // UD events: the remote QP's (or group's) Q_Key
	_                  uint32
	Join               uint64 // multicast events: the token JoinMulticast gave the join
	ah                 [C.sizeof_struct_ibv_ah_attr]byte
	ECE                ECE // a connection request's or connect response's
}

var (
	_ [unsafe.Sizeof(CMEvent{}) - C.sizeof_go_cm_event]byte
	_ [C.sizeof_go_cm_event - unsafe.Sizeof(CMEvent{})]byte
	_ [unsafe.Offsetof(CMEvent{}.ah) - C.go_cm_event_ah_off]byte
	_ [C.go_cm_event_ah_off - unsafe.Offsetof(CMEvent{}.ah)]byte
)

// AHAttr is the address of the remote QP (or multicast group) of a UD
// event: RDMA_CM_EVENT_ESTABLISHED of a lookup, RDMA_CM_EVENT_MULTICAST_JOIN.
func (ev *CMEvent) AHAttr() AHAttr {
	return ahAttrFromC((*C.struct_ibv_ah_attr)(unsafe.Pointer(&ev.ah)))
}

// rdma_cm event types.
const (
	CMEventAddrResolved    = C.RDMA_CM_EVENT_ADDR_RESOLVED
	CMEventAddrError       = C.RDMA_CM_EVENT_ADDR_ERROR
	CMEventRouteResolved   = C.RDMA_CM_EVENT_ROUTE_RESOLVED
	CMEventRouteError      = C.RDMA_CM_EVENT_ROUTE_ERROR
	CMEventConnectRequest  = C.RDMA_CM_EVENT_CONNECT_REQUEST
	CMEventConnectResponse = C.RDMA_CM_EVENT_CONNECT_RESPONSE
	CMEventConnectError    = C.RDMA_CM_EVENT_CONNECT_ERROR
	CMEventUnreachable     = C.RDMA_CM_EVENT_UNREACHABLE
	CMEventRejected        = C.RDMA_CM_EVENT_REJECTED
	CMEventEstablished     = C.RDMA_CM_EVENT_ESTABLISHED
	CMEventDisconnected    = C.RDMA_CM_EVENT_DISCONNECTED
	CMEventDeviceRemoval   = C.RDMA_CM_EVENT_DEVICE_REMOVAL
	CMEventAddrChange      = C.RDMA_CM_EVENT_ADDR_CHANGE
	CMEventTimewaitExit    = C.RDMA_CM_EVENT_TIMEWAIT_EXIT
	CMEventMulticastJoin   = C.RDMA_CM_EVENT_MULTICAST_JOIN
	CMEventMulticastError  = C.RDMA_CM_EVENT_MULTICAST_ERROR
)

// CMEventString is rdma_event_str, e.g. "RDMA_CM_EVENT_REJECTED".
func CMEventString(event int32) string {
	return C.GoString(C.rdma_event_str(C.enum_rdma_cm_event_type(event)))
}

// GetEvent reads, copies and acks one event into ev; EAGAIN when none is pending.
func (ch EventChannel) GetEvent(ev *CMEvent) error {
	rc, err := C.go_get_cm_event(ch.p, (*C.go_cm_event)(unsafe.Pointer(ev)))
	return errnoOf(rc, err)
}

// ID is an rdma_cm identifier (struct rdma_cm_id *); comparable, usable as a map key.
type ID struct{ p *C.struct_rdma_cm_id }

// IsZero reports whether id names no identifier.
func (id ID) IsZero() bool { return id.p == nil }

// CreateID creates an identifier on ch: connected-mode (RDMA_PS_TCP), or
// for unreliable datagrams (RDMA_PS_UDP) when ud is true. The C function
// only writes the new identifier through its pointer argument (noescape
// above), so id stays on the stack.
func (ch EventChannel) CreateID(ud bool) (ID, error) {
	var id *C.struct_rdma_cm_id
	ps := uint32(C.RDMA_PS_TCP)
	if ud {
		ps = C.RDMA_PS_UDP
	}
	rc, err := C.rdma_create_id(ch.p, &id, nil, ps)
	if rc != 0 {
		return ID{}, errnoOf(rc, err)
	}
	return ID{p: id}, nil
}

// IsUD reports whether the identifier is in the UDP port space (RDMA_PS_UDP).
func (id ID) IsUD() bool { return id.p.ps == C.RDMA_PS_UDP }

// Destroy destroys the identifier (rdma_destroy_id).
func (id ID) Destroy() error {
	rc, err := C.rdma_destroy_id(id.p)
	return errnoOf(rc, err)
}

// sockaddr builds the struct sockaddr_storage of ap, by value.
func sockaddr(ap netip.AddrPort) C.struct_sockaddr_storage {
	var ss C.struct_sockaddr_storage
	b := unsafe.Slice((*byte)(unsafe.Pointer(&ss)), C.sizeof_struct_sockaddr_storage)
	a := ap.Addr().Unmap()
	if a.Is4() {
		binary.NativeEndian.PutUint16(b[0:], syscall.AF_INET)
		binary.BigEndian.PutUint16(b[2:], ap.Port())
		v4 := a.As4()
		copy(b[4:8], v4[:])
	} else {
		binary.NativeEndian.PutUint16(b[0:], syscall.AF_INET6)
		binary.BigEndian.PutUint16(b[2:], ap.Port())
		v6 := a.As16()
		copy(b[8:24], v6[:])
		binary.NativeEndian.PutUint32(b[24:], uint32(zoneIndex(a.Zone())))
	}
	return ss
}

// zoneIndex is the IPv6 scope of a zone: its interface's index, or the
// zone itself when it is a number (as zoneName writes it); 0 for none.
func zoneIndex(zone string) int {
	if zone == "" {
		return 0
	}
	if ifc, err := net.InterfaceByName(zone); err == nil {
		return ifc.Index
	}
	if n, err := strconv.Atoi(zone); err == nil && n > 0 {
		return n
	}
	return 0
}

// zoneName is the zone of an IPv6 scope: its interface's name, or the
// number when no interface has it; "" for scope 0.
func zoneName(index int) string {
	if index == 0 {
		return ""
	}
	if ifc, err := net.InterfaceByIndex(index); err == nil {
		return ifc.Name
	}
	return strconv.Itoa(index)
}

// fromSockaddr converts a struct sockaddr (IPv4 or IPv6) to an AddrPort.
func fromSockaddr(sa *C.struct_sockaddr) netip.AddrPort {
	if sa == nil {
		return netip.AddrPort{}
	}
	switch sa.sa_family {
	case syscall.AF_INET:
		b := unsafe.Slice((*byte)(unsafe.Pointer(sa)), C.sizeof_struct_sockaddr_in)
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), binary.BigEndian.Uint16(b[2:4]))
	case syscall.AF_INET6:
		b := unsafe.Slice((*byte)(unsafe.Pointer(sa)), C.sizeof_struct_sockaddr_in6)
		a := netip.AddrFrom16([16]byte(b[8:24])).WithZone(zoneName(int(binary.NativeEndian.Uint32(b[24:28]))))
		return netip.AddrPortFrom(a, binary.BigEndian.Uint16(b[2:4]))
	}
	return netip.AddrPort{}
}

// BindAddr binds the identifier to a local address (rdma_bind_addr).
func (id ID) BindAddr(ap netip.AddrPort) error {
	rc, err := C.go_bind_addr(id.p, sockaddr(ap))
	return errnoOf(rc, err)
}

// Listen starts listening (rdma_listen).
func (id ID) Listen(backlog int) error {
	rc, err := C.rdma_listen(id.p, C.int(backlog))
	return errnoOf(rc, err)
}

// ResolveAddr starts address resolution (rdma_resolve_addr); src may be invalid (any).
func (id ID) ResolveAddr(src, dst netip.AddrPort, timeoutMS int) error {
	var srcSA C.struct_sockaddr_storage
	hasSrc := C.int(0)
	if src.IsValid() {
		srcSA, hasSrc = sockaddr(src), 1
	}
	rc, err := C.go_resolve_addr(id.p, hasSrc, srcSA, sockaddr(dst), C.int(timeoutMS))
	return errnoOf(rc, err)
}

// ResolveRoute starts route resolution (rdma_resolve_route).
func (id ID) ResolveRoute(timeoutMS int) error {
	rc, err := C.rdma_resolve_route(id.p, C.int(timeoutMS))
	return errnoOf(rc, err)
}

// JoinMulticast joins the multicast group addr (rdma_join_multicast); the
// answer is RDMA_CM_EVENT_MULTICAST_JOIN or _ERROR with CMEvent.Join token
// (not 0).
func (id ID) JoinMulticast(addr netip.AddrPort, token uint64) error {
	if token == 0 {
		return syscall.EINVAL
	}
	rc, err := C.go_mcast_join(id.p, sockaddr(addr), C.uint64_t(token))
	return errnoOf(rc, err)
}

// LeaveMulticast leaves the multicast group addr (rdma_leave_multicast).
func (id ID) LeaveMulticast(addr netip.AddrPort) error {
	rc, err := C.go_mcast_join(id.p, sockaddr(addr), 0)
	return errnoOf(rc, err)
}

// SetTOS sets the type of service of the identifier's traffic
// (RDMA_OPTION_ID_TOS): on RoCE the traffic class and service level of the
// route resolved after it.
func (id ID) SetTOS(tos uint8) error {
	rc, err := C.go_set_option_u8(id.p, C.RDMA_OPTION_ID_TOS, C.uint8_t(tos))
	return errnoOf(rc, err)
}

// SetReuseAddr sets whether the identifier may bind an address other
// identifiers that allow it have bound (RDMA_OPTION_ID_REUSEADDR).
func (id ID) SetReuseAddr(on bool) error {
	v := C.int(0)
	if on {
		v = 1
	}
	rc, err := C.go_set_option_int(id.p, C.RDMA_OPTION_ID_REUSEADDR, v)
	return errnoOf(rc, err)
}

// SetAckTimeout sets the local ACK timeout of the connection's QP, 4.096 µs
// × 2^timeout (RDMA_OPTION_ID_ACK_TIMEOUT).
func (id ID) SetAckTimeout(timeout uint8) error {
	rc, err := C.go_set_option_u8(id.p, C.RDMA_OPTION_ID_ACK_TIMEOUT, C.uint8_t(timeout))
	return errnoOf(rc, err)
}

// ConnParam is what Connect and Accept send (struct rdma_conn_param).
type ConnParam struct {
	QPNum              uint32
	ResponderResources uint8
	InitiatorDepth     uint8
	RetryCount         uint8
	RNRRetryCount      uint8
	SRQ                bool   // the QP takes its receives from an SRQ
	PrivateData        []byte // at most 255 bytes
	ECE                ECE    // Enhanced Connection Establishment options, sent when VendorID is not 0 (rdma_set_local_ece)
}

// toC builds the connection parameters of p, its private data copied in.
func (p *ConnParam) toC() (c C.go_conn) {
	c.param.private_data_len = C.uint8_t(copyPrivateData(&c, p.PrivateData))
	c.param.responder_resources = C.uint8_t(p.ResponderResources)
	c.param.initiator_depth = C.uint8_t(p.InitiatorDepth)
	c.param.retry_count = C.uint8_t(p.RetryCount)
	c.param.rnr_retry_count = C.uint8_t(p.RNRRetryCount)
	c.param.qp_num = C.uint32_t(p.QPNum)
	if p.SRQ {
		c.param.srq = 1
	}
	c.ece_vendor_id, c.ece_options = C.uint32_t(p.ECE.VendorID), C.uint32_t(p.ECE.Options)
	return c
}

// copyPrivateData copies up to 255 bytes of b into c and returns how many.
func copyPrivateData(c *C.go_conn, b []byte) int {
	return copy(unsafe.Slice((*byte)(unsafe.Pointer(&c.private_data[0])), len(c.private_data)), b)
}

// Connect sends a connection request (rdma_connect) for a QP the caller
// created and owns.
func (id ID) Connect(p *ConnParam) error {
	rc, err := C.go_cm_connect(id.p, p.toC())
	return errnoOf(rc, err)
}

// Accept accepts a connection request (rdma_accept); RetryCount is ignored.
func (id ID) Accept(p *ConnParam) error {
	rc, err := C.go_cm_accept(id.p, p.toC())
	return errnoOf(rc, err)
}

// Reject rejects a request, or a connect response on the active side
// (rdma_reject), with the IB CM reason 35, vendor option not supported
// (rdma_reject_ece), when ece is true.
func (id ID) Reject(data []byte, ece bool) error {
	var c C.go_conn
	c.param.private_data_len = C.uint8_t(copyPrivateData(&c, data))
	e := C.int(0)
	if ece {
		e = 1
	}
	rc, err := C.go_cm_reject(id.p, c, e)
	return errnoOf(rc, err)
}

// NotifyEstablished tells rdma_cm that the identifier's QP received its
// first message (rdma_notify with IBV_EVENT_COMM_EST).
func (id ID) NotifyEstablished() error {
	rc, err := C.rdma_notify(id.p, C.IBV_EVENT_COMM_EST)
	return errnoOf(rc, err)
}

// Disconnect disconnects (rdma_disconnect).
func (id ID) Disconnect() error {
	rc, err := C.rdma_disconnect(id.p)
	return errnoOf(rc, err)
}

// What Ready does once the QP is in its last state.
const (
	ReadyOnly      = 0 // nothing
	ReadyAccept    = 1 // rdma_accept
	ReadyEstablish = 2 // rdma_establish
)

// ReadyError is a failed Ready: the call that failed (rdma_init_qp_attr or
// ibv_modify_qp with the QP state it was for, or the rdma_cm call) and its
// errno.
type ReadyError struct {
	Call  string
	State int // enum ibv_qp_state, INIT to RTS; 0 for the rdma_cm call
	Err   error
}

// Error formats the failed call, the state reached and the cause.
func (e *ReadyError) Error() string {
	switch e.State {
	case 0:
		return e.Call + ": " + e.Err.Error()
	case C.IBV_QPS_INIT:
		return e.Call + "(INIT): " + e.Err.Error()
	case C.IBV_QPS_RTR:
		return e.Call + "(RTR): " + e.Err.Error()
	case C.IBV_QPS_RTS:
		return e.Call + "(RTS): " + e.Err.Error()
	}
	return fmt.Sprintf("%s(QP state %d): %v", e.Call, e.State, e.Err)
}

// Unwrap returns the errno.
func (e *ReadyError) Unwrap() error { return e.Err }

// Ready moves qp, a QP of this connection, through the states first..last
// (enum ibv_qp_state, INIT to RTS) with the attributes rdma_init_qp_attr
// computes, maxDestRdAtomic (RTR) and maxRdAtomic (RTS) overriding them
// when not negative, then does then (ReadyAccept with p, ReadyEstablish),
// all in one call into C. reached is the last state applied, 0 if none. A
// failure is a *ReadyError.
func (id ID) Ready(qp QP, first, last, maxDestRdAtomic, maxRdAtomic, then int, p *ConnParam) (reached int, err error) {
	switch {
	case first < C.IBV_QPS_INIT || last > C.IBV_QPS_RTS || first > last:
		return 0, fmt.Errorf("QP states %d..%d, want INIT to RTS: %w", first, last, syscall.EINVAL)
	case then != ReadyOnly && then != ReadyAccept && then != ReadyEstablish:
		return 0, fmt.Errorf("final step %d: %w", then, syscall.EINVAL)
	case id.p == nil || qp.p == nil:
		return 0, fmt.Errorf("no identifier or no QP: %w", syscall.EINVAL)
	case then == ReadyAccept && p == nil:
		return 0, fmt.Errorf("accept without parameters: %w", syscall.EINVAL)
	}
	var c C.go_conn
	if p != nil {
		c = p.toC()
	}
	r := C.go_cm_ready(id.p, qp.p, C.int(first), C.int(last), C.int(maxDestRdAtomic), C.int(maxRdAtomic),
		C.int(then), c)
	if r.rc == 0 {
		return int(r.reached), nil
	}
	e := &ReadyError{Err: syscall.Errno(r.err)}
	if r.failed == 2 {
		e.Call = "rdma_establish"
		if then == ReadyAccept {
			e.Call = "rdma_accept"
		}
	} else {
		e.Call = [...]string{"rdma_init_qp_attr", "ibv_modify_qp"}[r.failed]
		e.State = max(int(r.reached)+1, first)
	}
	return int(r.reached), e
}

// LocalAddr is the bound local address (rdma_get_local_addr).
func (id ID) LocalAddr() netip.AddrPort { return id.zoned(fromSockaddr(C.rdma_get_local_addr(id.p))) }

// PeerAddr is the peer's address (rdma_get_peer_addr).
func (id ID) PeerAddr() netip.AddrPort { return id.zoned(fromSockaddr(C.rdma_get_peer_addr(id.p))) }

// zoned gives an IPv6 link-local address that came without a scope the zone
// of the identifier's local address: the netdev behind the port's GID that
// is that address (RoCE). The kernel reports no scope for the addresses of a
// connection request on IB and RoCE, where it builds them from the GIDs;
// on IB, with no netdev, the address stays without a zone.
func (id ID) zoned(ap netip.AddrPort) netip.AddrPort {
	a := ap.Addr()
	if !a.Is6() || !a.IsLinkLocalUnicast() || a.Zone() != "" || id.p.verbs == nil {
		return ap
	}
	local := fromSockaddr(C.rdma_get_local_addr(id.p)).Addr()
	if !local.Is6() || !local.IsLinkLocalUnicast() {
		return ap
	}
	if local.Zone() != "" {
		return netip.AddrPortFrom(a.WithZone(local.Zone()), ap.Port())
	}
	table, err := Context{p: id.p.verbs}.QueryGIDTable(MaxGIDEntries)
	if err != nil {
		return ap
	}
	for _, e := range table {
		if e.Port == int(id.p.port_num) && e.GID == GID(local.As16()) && e.NetIfIndex != 0 {
			return netip.AddrPortFrom(a.WithZone(zoneName(e.NetIfIndex)), ap.Port())
		}
	}
	return ap
}

// DeviceName is the name of the RDMA device the identifier is bound to, "" before.
func (id ID) DeviceName() string {
	if id.p.verbs == nil {
		return ""
	}
	return C.GoString(&id.p.verbs.device.name[0])
}

// Transport is the transport of the bound device.
func (id ID) Transport() Transport {
	if id.p.verbs == nil {
		return TransportUnknown
	}
	return Transport(id.p.verbs.device.transport_type)
}
