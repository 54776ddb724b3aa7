package rdmacm

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// Addr is the address of an rdma_cm endpoint: an IP address (of the RDMA
// device's netdev) and a port in rdma_cm's TCP port space (UDP for UD
// connectors and ListenUD listeners).
type Addr struct {
	netip.AddrPort
}

// Network returns "rdma".
func (a *Addr) Network() string { return "rdma" }

// String returns "ip:port".
func (a *Addr) String() string {
	if a == nil {
		return "<nil>"
	}
	return a.AddrPort.String()
}

// resolve parses "host:port" (host may be a name, looked up with the
// default resolver; port may be 0 when any is allowed).
func resolve(ctx context.Context, address string) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return netip.AddrPort{}, &net.AddrError{Err: "missing port or bad host:port", Addr: address}
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, &net.AddrError{Err: "invalid port", Addr: address}
	}
	if host == "" {
		return netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(p)), nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(ip, uint16(p)), nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if len(ips) == 0 {
		return netip.AddrPort{}, &net.AddrError{Err: "no address for host", Addr: address}
	}
	return netip.AddrPortFrom(ips[0].Unmap(), uint16(p)), nil
}

func addrString(ap netip.AddrPort) string {
	if !ap.IsValid() {
		return ""
	}
	return fmt.Sprint(ap)
}
