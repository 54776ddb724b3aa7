// Package rdmacm is the Go binding of librdmacm with a connection API shaped
// like Windows NDK (NDK_LISTENER, NDK_CONNECTOR): a Listener hands out
// connection requests as Connectors, which the application accepts or
// rejects; an active Connector connects in two phases, so that the
// application can look at the peer's answer (ConnectionData: read limits and
// private data) and then complete the connection or reject it.
//
// The application owns its queue pair (made with package verbs on the device
// DeviceName names); the Connector moves it through INIT, RTR and RTS with
// the attributes rdma_cm computes (rdma_init_qp_attr), and to the error state
// when the connection ends, so that outstanding requests flush.
//
// # Events
//
// A Listener and the Connectors of its requests share an rdma_cm event
// channel; all active Connectors share another, which outlives the last of
// them by a second, so that connections made one after the other reuse it.
// A channel's descriptor is non-blocking and waited on by Go's netpoller from one
// goroutine, which acks every event as soon as it has copied it: no OS
// thread is blocked per connection and every blocking call takes a
// context.Context. Resolve, Connect and Accept with a context that has
// ended send nothing (Disconnect starts the disconnection whatever its
// context; JoinMulticast sends its join and leaves the group again). A call whose context ends while it waits for the
// CM or the peer (Resolve, Connect, Accept) returns the context's error and
// leaves its request under way: that Connector is then only good for Close
// (its other calls give ErrInvalidState).
//
// # Transports
//
// On InfiniBand and RoCE, Connect returns at RDMA_CM_EVENT_CONNECT_RESPONSE
// and CompleteConnect (rdma_establish) or Reject (rdma_reject) follows. On
// iWARP the connection is complete when Connect returns; CompleteConnect
// returns nil and an active-side Reject returns ErrUnsupported.
//
// The request and the accept also carry, on IB and RoCE, whether each side's
// QP takes its receives from an SRQ (set from the QP; the peer's in
// ConnectionData.PeerSRQ) and Enhanced Connection Establishment options
// (ConnParams.ECE; the peer's in ConnectionData.PeerECE; RejectECE refuses
// them with reason 35). librdmacm negotiates ECE by itself only for QPs it
// creates: for the application's own QP, take verbs.QP.ECE into the request
// and give the QP the answer with verbs.QP.SetECE. A passive side whose QP
// received its first message before the requester's ready-to-use message
// came (the QP's verbs.EventCommEst) calls Notify, and a waiting Accept
// returns.
//
// # Datagrams
//
// NewUDConnector and ListenUD work in rdma_cm's UDP port space, for UD QPs:
// a UD connector's Connect looks up the QP a UD listener's Accept answers
// with (IB CM SIDR; UDPeer tells its address, QP number and Q_Key), and
// JoinMulticast joins a multicast group and attaches a UD QP to it. iWARP
// has neither.
//
// # Options
//
// rdma_set_option's settings of an identifier are Connector methods:
// SetTOS (the type of service, on RoCE the traffic class) before Resolve
// (or Connect), SetReuseAddr before Bind, SetAckTimeout before Connect or
// Accept. Each is
// refused with ErrInvalidState once it could no longer apply. The retry
// counts of a connection's QPs (ConnParams.Retry) go with Connect and
// Accept.
//
// # Private data
//
// Private data limits (MaxPrivateData) are checked before anything is sent:
//
//	                 connect  accept  reject   (raw bytes, per message)
//	IB, RoCE              56     196     148   IB CM field minus rdma_cm's header
//	iWARP (siw)          251     251     251   255 less MPA v2's IRD/ORD
//	UD (IB CM SIDR)      180     136     136   SIDR request less rdma_cm's header; reply
//
// IB CM pads private data with zeros to its field size, so by default a
// Connector frames what it sends: the 3 bytes 0xD7 'R' LEN, then LEN bytes.
// Framed private data is returned exactly as sent (ConnectionData,
// RejectError.PrivateData); unframed data (from a C peer) is returned as
// received, padding included. ConnParams.RawPrivateData and RejectRaw send
// without the frame, for peers with their own protocol; the framed limits
// are the raw ones less 3.
//
// # Errors
//
// Errors are *OpError values wrapping the cause: syscall.Errno from
// librdmacm, *RejectError for refusals (errors.Is(err, ErrConnectionRefused)),
// *EventError for other failing events (wrapping their errno), ErrClosed,
// ErrInvalidState, ErrPrivateDataTooLong, ErrConnectionAborted, ErrUnsupported.
package rdmacm
