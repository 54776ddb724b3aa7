package rdmacm

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"testing"

	"github.com/go-rdma/rdma/cgo"
)

// FuzzPrivateDataRoundTrip: framed private data within the limit comes back
// exact from decode, padded with zeros to the wire field as IB pads it;
// over the limit (of IB, iWARP or UD) encode refuses with ErrPrivateDataTooLong; raw data goes
// out untouched.
func FuzzPrivateDataRoundTrip(f *testing.F) {
	f.Add([]byte{}, uint8(0), uint8(0), false, uint8(0))
	f.Add([]byte("hello"), uint8(1), uint8(1), false, uint8(40))
	f.Add(bytes.Repeat([]byte{0xD7}, 300), uint8(2), uint8(0), true, uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, msg, tr uint8, raw bool, pad uint8) {
		m := Message(msg % 3)
		s := []space{{transport: cgo.TransportIB}, {transport: cgo.TransportIWARP}, {transport: cgo.TransportIB, ud: true}}[tr%3]
		wire, err := encode(s, m, data, raw)
		max := s.max(m, raw)
		if len(data) > max {
			if !errors.Is(err, ErrPrivateDataTooLong) {
				t.Fatalf("%d bytes over the %d limit: %v", len(data), max, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("%d bytes within the %d limit: %v", len(data), max, err)
		}
		if len(wire) > s.max(m, true) {
			t.Fatalf("%d wire bytes over the raw limit %d", len(wire), s.max(m, true))
		}
		if raw {
			if !bytes.Equal(wire, data) {
				t.Fatalf("raw data changed: %x → %x", data, wire)
			}
			return
		}
		padded := append(append([]byte(nil), wire...), make([]byte, pad)...)
		if got := decode(padded); !bytes.Equal(got, data) {
			t.Fatalf("decode(encode(%x)) = %x", data, got)
		}
	})
}

// FuzzDecode: any bytes decode without a panic to a subslice of the input:
// its framed payload, or all of it.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0xD7, 'R', 3, 'a', 'b', 'c', 0, 0})
	f.Add([]byte{0xD7, 'R', 200, 'a'})
	f.Add([]byte{0xD7, 'R'})
	f.Fuzz(func(t *testing.T, wire []byte) {
		got := decode(wire)
		framed := len(wire) >= 3 && wire[0] == 0xD7 && wire[1] == 'R' && 3+int(wire[2]) <= len(wire)
		switch {
		case framed && !bytes.Equal(got, wire[3:3+int(wire[2])]):
			t.Fatalf("decode(%x) = %x, want the framed payload", wire, got)
		case !framed && !bytes.Equal(got, wire):
			t.Fatalf("decode(%x) = %x, want the input", wire, got)
		}
	})
}

// FuzzResolve: resolve parses numeric "host:port" strings like net and
// netip do, and refuses the rest with an error, never a panic. Only inputs
// whose host is empty or a literal address reach resolve, so no name is
// looked up.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{"192.0.2.1:7471", ":0", "[::1]:1", "[fe80::1%veth0]:9", "192.0.2.1:65536",
		"192.0.2.1", "1.2.3.4:-1", "[::ffff:1.2.3.4]:80", "1.2.3.4:0x10", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, address string) {
		host, port, splitErr := net.SplitHostPort(address)
		if splitErr == nil && host != "" {
			if _, err := netip.ParseAddr(host); err != nil {
				return // would be a name lookup
			}
		}
		ap, err := resolve(context.Background(), address)
		if splitErr != nil {
			if err == nil {
				t.Fatalf("resolve(%q) = %v, net.SplitHostPort refuses it", address, ap)
			}
			return
		}
		p, perr := strconv.ParseUint(port, 10, 16)
		if perr != nil {
			if err == nil {
				t.Fatalf("resolve(%q) = %v with an invalid port", address, ap)
			}
			return
		}
		if err != nil {
			t.Fatalf("resolve(%q): %v", address, err)
		}
		want := netip.IPv4Unspecified()
		if host != "" {
			want = netip.MustParseAddr(host)
		}
		if ap.Addr() != want || ap.Port() != uint16(p) {
			t.Fatalf("resolve(%q) = %v, want %v port %d", address, ap, want, p)
		}
	})
}
