package verbs_test

import (
	"testing"

	"github.com/go-rdma/rdma/verbs"
)

func TestMTU(t *testing.T) {
	for n, want := range map[int]verbs.MTU{256: verbs.MTU256, 1024: verbs.MTU1024, 4096: verbs.MTU4096} {
		m, ok := verbs.MTUFromBytes(n)
		if !ok || m != want || m.Bytes() != n {
			t.Errorf("MTUFromBytes(%d) = %v, %v", n, m, ok)
		}
	}
	for _, n := range []int{0, 100, 1500, 8192} {
		if _, ok := verbs.MTUFromBytes(n); ok {
			t.Errorf("MTUFromBytes(%d) accepted", n)
		}
	}
	if s := verbs.MTU(9).String(); s != "invalid MTU (9)" {
		t.Errorf("MTU(9) = %q", s)
	}
}

func TestEnumStrings(t *testing.T) {
	for got, want := range map[string]string{
		verbs.PortActive.String():        "PORT_ACTIVE",
		verbs.TransportIWARP.String():    "iWARP",
		verbs.LinkLayerEthernet.String(): "Ethernet",
		verbs.GIDTypeRoCEv2.String():     "RoCE v2",
		verbs.AtomicHCA.String():         "ATOMIC_HCA",
		verbs.NodeRNIC.String():          "RNIC",
		verbs.PortState(42).String():     "unknown (42)",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestGIDString(t *testing.T) {
	g := verbs.GID{0xfe, 0x80, 10: 0xf8, 11: 0xc5, 12: 0x1b, 13: 0xff, 14: 0xfe, 15: 0x3c}
	if s := g.String(); s != "fe80::f8c5:1bff:fe3c" {
		t.Errorf("String() = %q", s)
	}
	v4 := verbs.GID{10: 0xff, 11: 0xff, 12: 192, 13: 0, 14: 2, 15: 1}
	if s := v4.String(); s != "::ffff:192.0.2.1" {
		t.Errorf("String() = %q", s)
	}
	if ip := v4.IP().String(); ip != "192.0.2.1" {
		t.Errorf("IP() = %q", ip)
	}
	if !(verbs.GID{}).IsZero() || v4.IsZero() {
		t.Error("IsZero wrong")
	}
}
