package cgo

import (
	"net"
	"net/netip"
)

// GID is a 128-bit global identifier: an IPv6 address for RoCE v2, derived
// from the MAC for iWARP and RoCE v1, subnet prefix plus port GUID for IB.
type GID [16]byte

// String formats the GID as an IPv6 address, as ibv_devinfo does:
// "fe80::f8c5:1bff:fe3c:b932", "::ffff:192.0.2.1".
func (g GID) String() string { return netip.AddrFrom16(g).String() }

// IP returns the GID as an IP address (an IPv4-mapped GID gives an IPv4 address).
func (g GID) IP() net.IP {
	ip := make(net.IP, net.IPv6len)
	copy(ip, g[:])
	if v4 := ip.To4(); v4 != nil {
		return v4
	}
	return ip
}

// IsZero reports whether the GID is all zeros (an unused table slot).
func (g GID) IsZero() bool { return g == GID{} }
