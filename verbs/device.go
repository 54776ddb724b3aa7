// Package verbs is the Go binding of libibverbs: devices, contexts, ports and
// GID tables.
//
// Every object is safe for concurrent use. Methods on a closed or nil object
// return an *OpError wrapping ErrClosed; errors from libibverbs wrap the
// syscall.Errno captured in the failing call, so errors.Is(err, syscall.ENODEV)
// and errors.As(err, &opErr) work (a refused post is a *PostError).
//
// Memory: the entries of a request name registered memory by key. Every
// non-empty entry of a send or receive request must lie inside an open
// region of the QP's (or SRQ's) PD, named by its lkey, or the post refuses
// it (closing a region during a post that names it is the caller's race):
// providers
// read and write some entries on the CPU (inline sends; on mlx5, small
// received messages, copied from the completion into the receive's memory,
// scatter to CQE), where a bad entry would crash the process. Inline
// entries are also refused in regions the device addresses at another
// IOVA (RegMRAt), and a SendList or RecvList holds its entries' regions
// open. A
// receive's region must stay open, and its Buffer mapped, until the
// receive completes.
//
// The data path allocates nothing and makes one call into C per batch:
// QP.PostSend and QP.PostRecv take a chain of requests, validated and
// converted on every call; a SendList holds send requests built once, posted
// as one chain (Post), as several consecutive posts (PostChains, perftest's
// post lists), or as soon as a completion arrives (PostAfter, a ping-pong's
// turnaround; RepostAfter, which first replaces the consumed receives from
// a RecvList, receive requests built once); CQ.Poll takes a batch of
// completions and CQ.BusyPoll spins in C until one comes.
//
// A goroutine that calls into libibverbs back to back for longer than 10 ms
// (polling in a loop, or creating and destroying many objects one after the
// other) should call Yield every few milliseconds. Go's runtime preempts a
// goroutine that has not been through the scheduler for 10 ms. When the
// preemption finds the goroutine inside a call into C, the runtime takes its
// processor away, and its monitor thread goes back to waking up every 20 µs
// for the next few tens of milliseconds. Those wake-ups take CPU time from
// the caller, and while the monitor runs on another CPU, each unmapping of
// queue memory has to interrupt that CPU. Yield, unlike runtime.Gosched,
// wakes no idle thread. One call into C that lasts 10 ms loses its
// processor the same way, Yield or not, and a post can take that long on
// the software devices: on siw and rxe the doorbell of each ibv_post_send is
// a system call in which the kernel sends the requests, a hundred
// microseconds and more under emulation, so a SendList.PostChains of a
// send queue's worth of posts is better made as several calls of a few
// posts each. The monitor thread also wakes up every 20 µs after
// the process has had nothing to run, at its first call into C: a latency
// measurement that starts right after a blocking wait (connection setup)
// should first keep busy for a few tens of milliseconds without blocking.
// Even so, the monitor thread wakes up every 10 ms while any goroutine runs,
// a constant of the runtime (go.dev/issue/18236): where no CPU is idle
// beside the pollers, each wake-up takes one from them for a moment.
// BENCHMARKS.md, "Where the time goes" and "Go with the monitor thread's
// tick at 1 s", measures all three.
package verbs

import "github.com/go-rdma/rdma/cgo"

// The plain data types are defined once, in the raw layer, and named here.
type (
	// Device is an RDMA device found by Devices.
	Device = cgo.Device
	// NodeType is the kind of node a device is (enum ibv_node_type).
	NodeType = cgo.NodeType
	// Transport is a device's transport (enum ibv_transport_type); RoCE
	// devices report TransportIB.
	Transport = cgo.Transport
	// DeviceAttr holds a device's attributes and limits (struct ibv_device_attr_ex).
	DeviceAttr = cgo.DeviceAttr
	// PortAttr holds a port's attributes (struct ibv_port_attr).
	PortAttr = cgo.PortAttr
	// PortState is a port's logical state (enum ibv_port_state).
	PortState = cgo.PortState
	// MTU is a path MTU code (enum ibv_mtu); Bytes gives its size.
	MTU = cgo.MTU
	// LinkLayer is a port's link layer: InfiniBand or Ethernet (RoCE, iWARP).
	LinkLayer = cgo.LinkLayer
	// GIDType is the type of a GID table entry: IB, RoCE v1 or RoCE v2.
	GIDType = cgo.GIDType
	// AtomicCap tells which atomic operations a device supports.
	AtomicCap = cgo.AtomicCap
	// GID is a 128-bit global identifier; String formats it as ibv_devinfo does.
	GID = cgo.GID
	// GIDEntry is one valid entry of a port's GID table.
	GIDEntry = cgo.GIDEntry
)

// Node types.
const (
	NodeUnknown     = cgo.NodeUnknown
	NodeCA          = cgo.NodeCA
	NodeSwitch      = cgo.NodeSwitch
	NodeRouter      = cgo.NodeRouter
	NodeRNIC        = cgo.NodeRNIC
	NodeUSNIC       = cgo.NodeUSNIC
	NodeUSNICUDP    = cgo.NodeUSNICUDP
	NodeUnspecified = cgo.NodeUnspecified
)

// Transports.
const (
	TransportUnknown     = cgo.TransportUnknown
	TransportIB          = cgo.TransportIB
	TransportIWARP       = cgo.TransportIWARP
	TransportUSNIC       = cgo.TransportUSNIC
	TransportUSNICUDP    = cgo.TransportUSNICUDP
	TransportUnspecified = cgo.TransportUnspecified
)

// Port states.
const (
	PortNop         = cgo.PortNop
	PortDown        = cgo.PortDown
	PortInit        = cgo.PortInit
	PortArmed       = cgo.PortArmed
	PortActive      = cgo.PortActive
	PortActiveDefer = cgo.PortActiveDefer
)

// MTUs.
const (
	MTU256  = cgo.MTU256
	MTU512  = cgo.MTU512
	MTU1024 = cgo.MTU1024
	MTU2048 = cgo.MTU2048
	MTU4096 = cgo.MTU4096
)

// Link layers.
const (
	LinkLayerUnspecified = cgo.LinkLayerUnspecified
	LinkLayerInfiniBand  = cgo.LinkLayerInfiniBand
	LinkLayerEthernet    = cgo.LinkLayerEthernet
)

// GID types.
const (
	GIDTypeIB     = cgo.GIDTypeIB
	GIDTypeRoCEv1 = cgo.GIDTypeRoCEv1
	GIDTypeRoCEv2 = cgo.GIDTypeRoCEv2
)

// Atomic capabilities.
const (
	AtomicNone = cgo.AtomicNone
	AtomicHCA  = cgo.AtomicHCA
	AtomicGlob = cgo.AtomicGlob
)

// MTUFromBytes returns the MTU code for a size in bytes, and false when the
// size is not one of 256, 512, 1024, 2048, 4096.
func MTUFromBytes(n int) (MTU, bool) { return cgo.MTUFromBytes(n) }

// Devices lists the RDMA devices of this host (ibv_get_device_list).
func Devices() ([]Device, error) {
	devs, err := cgo.DeviceList()
	return devs, opError("ibv_get_device_list", "", err)
}
