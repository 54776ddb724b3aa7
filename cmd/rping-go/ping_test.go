package main

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

// TestPattern checks the ping data against lines printed by C rping -v
// -S 64 (the comparison with C rping itself is TestVerboseLinesAsC).
func TestPattern(t *testing.T) {
	for ping, want := range map[int]string{
		0:  "rdma-ping-0: ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqr",
		2:  "rdma-ping-2: CDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrst",
		57: "rdma-ping-57: zABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnop",
		58: "rdma-ping-58: ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopq",
	} {
		b := make([]byte, 64)
		fillPattern(b, ping)
		if got := string(cstring(b)); got != want || b[63] != 0 || len(got) != 63 {
			t.Errorf("ping %d: %q, want %q", ping, got, want)
		}
	}
	b := bytes.Repeat([]byte{'x'}, minSize)
	fillPattern(b, math.MaxInt32)
	if got := string(cstring(b)); got != "rdma-ping-2147483647: " {
		t.Errorf("ping MaxInt32 at the minimum size: %q", got)
	}
	// C rping's ping counter is an int: the next ping is number -2^31,
	// and its letters go on from where they were ('A' + 2^31 % 58 = 'I').
	b = make([]byte, 64)
	fillPattern(b, math.MaxInt32+1)
	if got, want := string(cstring(b)), "rdma-ping--2147483648: IJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnop"; got != want {
		t.Errorf("ping 2^31: %q, want %q", got, want)
	}
}

func TestInfoWire(t *testing.T) {
	b := make([]byte, infoLen)
	info := rdmaInfo{addr: 0x0102030405060708, rkey: 0x0a0b0c0d, size: 64}
	info.put(b)
	want := []byte{1, 2, 3, 4, 5, 6, 7, 8, 0x0a, 0x0b, 0x0c, 0x0d, 0, 0, 0, 64}
	if !bytes.Equal(b, want) {
		t.Errorf("wire % x, want % x", b, want)
	}
	if got := getInfo(b); got != info {
		t.Errorf("decoded %+v, want %+v", got, info)
	}
}

func TestStats(t *testing.T) {
	st := newStats()
	for i := 1000; i >= 1; i-- {
		st.add(time.Duration(i)*time.Microsecond, 128)
	}
	sum := st.summary("client", "192.0.2.1:7174", 64, nil)
	r := sum.RTT
	near := func(got, want float64) bool { return math.Abs(got-want) <= want/100 }
	if sum.Pings != 1000 || sum.Bytes != 128000 || r.Min != 1 || r.Max != 1000 || r.Avg != 500.5 ||
		!near(r.P50, 500) || !near(r.P99, 990) {
		t.Errorf("summary %+v, rtt %+v", sum, *r)
	}
	var out bytes.Buffer
	sum.print(&out, true)
	var back summary
	if err := json.Unmarshal(out.Bytes(), &back); err != nil || back.Pings != 1000 || back.RTT == nil || back.RTT.Max != 1000 {
		t.Errorf("JSON %s: %+v, %v", out.Bytes(), back, err)
	}
	out.Reset()
	sum.print(&out, false)
	if !strings.Contains(out.String(), "1000 pings, 128000 bytes") || !strings.Contains(out.String(), "min/avg/p50/p99/max = 1.0/500.5/") {
		t.Errorf("text summary:\n%s", out.String())
	}
	empty := newStats().summary("server", "192.0.2.1:1", 0, nil)
	if empty.RTT != nil || empty.Pings != 0 {
		t.Errorf("empty summary %+v", empty)
	}
	for _, d := range []time.Duration{0, 127, 128, 1 << 40, math.MaxInt64} {
		if i := bucketOf(d); i < 0 || i >= numBuckets {
			t.Errorf("bucket of %d: %d, out of range", d, i)
		}
	}
}

// A setup step that fails (here the device) gives its error; what was made
// before it is closed, and nothing panics. It needs no device.
func TestNewConnFailureCloses(t *testing.T) {
	c, err := newConn(nil, "no-such-device", 64, 0)
	if err == nil || c != nil {
		t.Fatalf("newConn on a missing device: %v, %v; want an error", c, err)
	}
	t.Log(err)
}
