package main

import (
	"encoding/binary"
	"testing"
)

// FuzzRDMAInfo: the 16-byte advertisement {addr u64, rkey u32, size u32},
// big-endian, decodes any 16 bytes without a panic, round-trips through
// put, and matches the C struct's network byte order field by field.
func FuzzRDMAInfo(f *testing.F) {
	f.Add(make([]byte, infoLen))
	f.Add([]byte{0, 0, 0x7f, 0xff, 0x12, 0x34, 0x50, 0, 0, 0, 0x12, 0x34, 0, 0, 0x10, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, wire []byte) {
		if len(wire) < infoLen {
			return
		}
		info := getInfo(wire)
		if info.addr != binary.BigEndian.Uint64(wire) || info.rkey != binary.BigEndian.Uint32(wire[8:]) ||
			info.size != binary.BigEndian.Uint32(wire[12:]) {
			t.Fatalf("getInfo(%x) = %+v", wire[:infoLen], info)
		}
		out := make([]byte, infoLen)
		info.put(out)
		if string(out) != string(wire[:infoLen]) {
			t.Fatalf("put(getInfo(%x)) = %x", wire[:infoLen], out)
		}
	})
}
