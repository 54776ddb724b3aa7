package cgo

import "fmt"

// NodeType is the kind of node a device is (enum ibv_node_type).
type NodeType int

// Node types.
const (
	NodeUnknown     NodeType = -1
	NodeCA          NodeType = 1
	NodeSwitch      NodeType = 2
	NodeRouter      NodeType = 3
	NodeRNIC        NodeType = 4
	NodeUSNIC       NodeType = 5
	NodeUSNICUDP    NodeType = 6
	NodeUnspecified NodeType = 7
)

var nodeTypeNames = map[NodeType]string{
	NodeCA: "CA", NodeSwitch: "switch", NodeRouter: "router", NodeRNIC: "RNIC",
	NodeUSNIC: "usNIC", NodeUSNICUDP: "usNIC UDP", NodeUnspecified: "unspecified",
}

// String returns the name ibv_devinfo prints, e.g. "CA".
func (t NodeType) String() string { return enumName(nodeTypeNames, t) }

// Transport is a device's transport (enum ibv_transport_type). RoCE devices
// report TransportIB.
type Transport int

// Transports.
const (
	TransportUnknown     Transport = -1
	TransportIB          Transport = 0
	TransportIWARP       Transport = 1
	TransportUSNIC       Transport = 2
	TransportUSNICUDP    Transport = 3
	TransportUnspecified Transport = 4
)

var transportNames = map[Transport]string{
	TransportIB: "InfiniBand", TransportIWARP: "iWARP", TransportUSNIC: "usNIC",
	TransportUSNICUDP: "usNIC UDP", TransportUnspecified: "unspecified",
}

// String returns the name ibv_devinfo prints.
func (t Transport) String() string { return enumName(transportNames, t) }

// PortState is a port's logical state (enum ibv_port_state).
type PortState int

// Port states.
const (
	PortNop         PortState = 0
	PortDown        PortState = 1
	PortInit        PortState = 2
	PortArmed       PortState = 3
	PortActive      PortState = 4
	PortActiveDefer PortState = 5
)

var portStateNames = map[PortState]string{
	PortNop: "PORT_NOP", PortDown: "PORT_DOWN", PortInit: "PORT_INIT", PortArmed: "PORT_ARMED",
	PortActive: "PORT_ACTIVE", PortActiveDefer: "PORT_ACTIVE_DEFER",
}

// String returns the name ibv_devinfo prints, e.g. "PORT_ACTIVE".
func (s PortState) String() string { return enumName(portStateNames, s) }

// MTU is a path MTU code (enum ibv_mtu).
type MTU int

// MTUs.
const (
	MTU256  MTU = 1
	MTU512  MTU = 2
	MTU1024 MTU = 3
	MTU2048 MTU = 4
	MTU4096 MTU = 5
)

// Bytes returns the MTU in bytes, 0 for an invalid code.
func (m MTU) Bytes() int {
	if m < MTU256 || m > MTU4096 {
		return 0
	}
	return 128 << int(m)
}

// String returns the size in bytes, e.g. "1024".
func (m MTU) String() string {
	if b := m.Bytes(); b != 0 {
		return fmt.Sprint(b)
	}
	return fmt.Sprintf("invalid MTU (%d)", int(m))
}

// MTUFromBytes returns the MTU code for a size in bytes, and false when the
// size is not one of 256, 512, 1024, 2048, 4096.
func MTUFromBytes(n int) (MTU, bool) {
	for m := MTU256; m <= MTU4096; m++ {
		if m.Bytes() == n {
			return m, true
		}
	}
	return 0, false
}

// LinkLayer is a port's link layer (IBV_LINK_LAYER_*).
type LinkLayer uint8

// Link layers.
const (
	LinkLayerUnspecified LinkLayer = 0
	LinkLayerInfiniBand  LinkLayer = 1
	LinkLayerEthernet    LinkLayer = 2
)

var linkLayerNames = map[LinkLayer]string{
	LinkLayerUnspecified: "Unspecified", LinkLayerInfiniBand: "InfiniBand", LinkLayerEthernet: "Ethernet",
}

// String returns the name ibv_devinfo prints.
func (l LinkLayer) String() string { return enumName(linkLayerNames, l) }

// GIDType is the type of a GID table entry (enum ibv_gid_type).
type GIDType uint32

// GID types.
const (
	GIDTypeIB     GIDType = 0
	GIDTypeRoCEv1 GIDType = 1
	GIDTypeRoCEv2 GIDType = 2
)

var gidTypeNames = map[GIDType]string{GIDTypeIB: "IB", GIDTypeRoCEv1: "RoCE v1", GIDTypeRoCEv2: "RoCE v2"}

// String returns the name ibv_devinfo prints, e.g. "RoCE v2".
func (t GIDType) String() string { return enumName(gidTypeNames, t) }

// AtomicCap tells which atomic operations a device supports (enum ibv_atomic_cap).
type AtomicCap int

// Atomic capabilities.
const (
	AtomicNone AtomicCap = 0
	AtomicHCA  AtomicCap = 1
	AtomicGlob AtomicCap = 2
)

var atomicCapNames = map[AtomicCap]string{AtomicNone: "ATOMIC_NONE", AtomicHCA: "ATOMIC_HCA", AtomicGlob: "ATOMIC_GLOB"}

// String returns the name ibv_devinfo prints, e.g. "ATOMIC_HCA".
func (a AtomicCap) String() string { return enumName(atomicCapNames, a) }

func enumName[T ~int | ~uint8 | ~uint32](names map[T]string, v T) string {
	if s, ok := names[v]; ok {
		return s
	}
	return fmt.Sprintf("unknown (%d)", v)
}
