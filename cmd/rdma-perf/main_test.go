package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-rdma/rdma/internal/testbed"
	"github.com/go-rdma/rdma/rdmacm"
)

// runPair runs the server on the device under test's address and the
// client with args (MODE first) against it, and returns the client's and
// the server's output.
func runPair(t *testing.T, args ...string) (client, server string) {
	t.Helper()
	testbed.Device(t)
	addr := testbed.Addr(t)
	l, err := rdmacm.Listen(net.JoinHostPort(addr, "0"), 128)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var srv bytes.Buffer
	served := make(chan error, 1)
	go func() { served <- serveOn(ctx, l, &config{json: true}, &srv) }()
	var out, errOut bytes.Buffer
	args = append(append([]string{"-p", port, "-timeout", "30s", "--json"}, args...), addr)
	if err := run(args, &out, &errOut); err != nil {
		t.Fatalf("rdma-perf %s: %v (%s)", strings.Join(args, " "), err, errOut.String())
	}
	if err := <-served; err != nil {
		t.Fatalf("server: %v", err)
	}
	return out.String(), srv.String()
}

// decode parses JSON lines into values of T.
func decode[T any](t *testing.T, out string) []T {
	t.Helper()
	var rs []T
	for line := range strings.Lines(out) {
		var r T
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%v in %q", err, line)
		}
		rs = append(rs, r)
	}
	return rs
}

func TestWriteBWAllSizes(t *testing.T) {
	out, _ := runPair(t, "write_bw", "-a", "-n", "20", "-t", "16", "-l", "4", "-Q", "8")
	rs := decode[bwResult](t, out)
	if len(rs) != 16 {
		t.Fatalf("%d results, want 16 sizes:\n%s", len(rs), out)
	}
	for i, r := range rs {
		if r.Mode != modeWriteBW || r.Bytes != 2<<i || r.Iters != 20 {
			t.Errorf("result %d: %+v, want %d bytes, 20 iterations", i, r, 2<<i)
		}
		if r.BWAvg <= 0 || r.MsgRate <= 0 {
			t.Errorf("%d B: non-positive rates %+v", r.Bytes, r)
		}
		// Both come from the same bytes and time.
		if got := r.BWAvg * (1 << 20) / float64(r.Bytes) / 1e6; math.Abs(got-r.MsgRate) > 1e-6*max(1, r.MsgRate)+1e-6 {
			t.Errorf("%d B: bandwidth %f MB/s is %f Mpps, reported %f", r.Bytes, r.BWAvg, got, r.MsgRate)
		}
	}
}

// TestWriteBWUneven runs write_bw where neither the run nor the send queue
// is a whole number of post lists (23 writes in lists of 4, 10 outstanding,
// one signaled in 3): the last list is shorter and every write completes.
func TestWriteBWUneven(t *testing.T) {
	out, _ := runPair(t, "write_bw", "-s", "64", "-n", "23", "-t", "10", "-l", "4", "-Q", "3")
	rs := decode[bwResult](t, out)
	if len(rs) != 1 || rs[0].Bytes != 64 || rs[0].Iters != 23 || rs[0].MsgRate <= 0 {
		t.Fatalf("results %+v, want one of 64 bytes, 23 iterations, a positive rate:\n%s", rs, out)
	}
}

// TestWriteBWWarmUp warms up with a send queue of single writes, or with
// one post list, before each measured run.
func TestWriteBWWarmUp(t *testing.T) {
	for _, list := range []string{"1", "4"} {
		t.Run("l="+list, func(t *testing.T) {
			out, _ := runPair(t, "write_bw", "--perform_warm_up", "-a", "-n", "40", "-t", "16", "-l", list, "-Q", "8")
			rs := decode[bwResult](t, out)
			if len(rs) != 16 {
				t.Fatalf("%d results, want 16 sizes:\n%s", len(rs), out)
			}
			for i, r := range rs {
				if r.Bytes != 2<<i || r.Iters != 40 || r.MsgRate <= 0 {
					t.Errorf("result %d: %+v, want %d bytes, 40 iterations, a positive rate", i, r, 2<<i)
				}
			}
		})
	}
}

func checkLatency(t *testing.T, mode string, r latResult, bytes, iters int) {
	t.Helper()
	if r.Mode != mode || r.Bytes != bytes || r.Iters != iters {
		t.Errorf("%+v, want %s, %d bytes, %d iterations", r, mode, bytes, iters)
	}
	if !(0 < r.Min && r.Min <= r.Typical && r.Typical <= r.P99 && r.P99 <= r.P999 && r.P999 <= r.Max) {
		t.Errorf("latencies out of order (min ≤ typical ≤ p99 ≤ p99.9 ≤ max): %+v", r)
	}
	if r.Avg < r.Min || r.Avg > r.Max || r.Stdev < 0 {
		t.Errorf("average or deviation out of range: %+v", r)
	}
}

func TestLatencyModes(t *testing.T) {
	for _, mode := range []string{modeSendLat, modeWriteLat, modeReadLat} {
		t.Run(mode, func(t *testing.T) {
			// Yield at almost every iteration: the loop must stay correct.
			out, srv := runPair(t, mode, "-n", "50", "-s", "64", "-yield", "10us")
			rs := decode[latResult](t, out)
			if len(rs) != 1 {
				t.Fatalf("%d results:\n%s", len(rs), out)
			}
			checkLatency(t, mode, rs[0], 64, 50)
			if mode == modeReadLat {
				if srv != "" {
					t.Errorf("read_lat server reported %q", srv)
				}
				return
			}
			// Ping-pong: the server measures its side too.
			srs := decode[latResult](t, srv)
			if len(srs) != 1 {
				t.Fatalf("server: %d results:\n%s", len(srs), srv)
			}
			checkLatency(t, mode, srs[0], 64, 50)
		})
	}
}

// TestSendLatAllSizes: -a with a count that is no multiple of the receive
// refill keeps the receive ring full from size to size.
func TestSendLatAllSizes(t *testing.T) {
	out, _ := runPair(t, modeSendLat, "-a", "-n", "40")
	rs := decode[latResult](t, out)
	if len(rs) != 16 {
		t.Fatalf("%d results, want 16 sizes:\n%s", len(rs), out)
	}
	for i, r := range rs {
		checkLatency(t, modeSendLat, r, 2<<i, 40)
	}
}

func TestCMTime(t *testing.T) {
	traceFile := filepath.Join(t.TempDir(), "trace")
	out, _ := runPair(t, modeCMTime, "-c", "3", "-n", "2", "-b", testbed.Addr(t), "-trace", traceFile)
	rs := decode[cmResult](t, out)
	if len(rs) != 2 {
		t.Fatalf("%d results, want 2 passes: %+v", len(rs), rs)
	}
	for i, r := range rs {
		if r.Pass != i+1 || r.Conns != 3 {
			t.Errorf("result %d: pass %d of %d connections, want pass %d of 3", i, r.Pass, r.Conns, i+1)
		}
		checkSteps(t, r.Steps)
	}
	// The execution trace names each step's region in its string table.
	tr, err := os.ReadFile(traceFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(tr, []byte("go 1.")) {
		t.Errorf("-trace wrote %.20q, want a Go execution trace", tr)
	}
	for _, s := range rs[0].Steps {
		if !bytes.Contains(tr, []byte(s.Step)) {
			t.Errorf("the trace has no region for step %q", s.Step)
		}
	}
}

// checkSteps checks one cmtime pass of 3 connections.
func checkSteps(t *testing.T, steps []cmStep) {
	t.Helper()
	var names []string
	for _, s := range steps {
		names = append(names, s.Step)
		if s.TotalMS <= 0 || s.USConn <= 0 || s.MinUS <= 0 || s.MinUS > s.MedianUS || s.MedianUS/1e3 > s.MaxMS || s.MaxMS > s.TotalMS {
			t.Errorf("step %+v: want 0 < min ≤ median ≤ max ≤ total", s)
		}
		if got := s.TotalMS * 1e3 / 3; math.Abs(got-s.USConn) > 1e-6*got {
			t.Errorf("step %+v: us/conn is not total/connections", s)
		}
	}
	want := "create id,bind addr,resolve addr+route,create qp,connect,disconnect,destroy"
	if got := strings.Join(names, ","); got != want {
		t.Errorf("steps %s, want %s", got, want)
	}
}

func TestTextOutput(t *testing.T) {
	testbed.Device(t)
	addr := testbed.Addr(t)
	l, err := rdmacm.Listen(net.JoinHostPort(addr, "0"), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	go serveOn(context.Background(), l, &config{}, new(bytes.Buffer))
	var out bytes.Buffer
	if err := run([]string{"write_lat", addr, "-p", port, "-n", "10", "-U"}, &out, new(bytes.Buffer)); err != nil {
		t.Fatal(err)
	}
	// -U: perftest's "#, usec" and the 9 samples in order, then the table.
	lines := strings.Split(out.String(), "\n")
	if len(lines) < 14 || lines[0] != "#, usec" {
		t.Fatalf("no samples before the table:\n%s", out.String())
	}
	for i, l := range lines[1:10] {
		n, v, ok := strings.Cut(l, ", ")
		if f, err := strconv.ParseFloat(v, 64); !ok || n != strconv.Itoa(i+1) || err != nil || f <= 0 {
			t.Errorf("sample line %q, want \"%d, <µs>\"", l, i+1)
		}
	}
	lines = lines[10:]
	if !strings.Contains(lines[1], "t_typical[usec]") || !strings.HasPrefix(strings.Fields(lines[2])[0], "2") {
		t.Errorf("not a perftest table:\n%s", out.String())
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-s", "x", "write_bw", "192.0.2.1"},
		{"nosuchmode", "192.0.2.1"},
		{"write_bw"},
		{"write_bw", "192.0.2.1", "extra"},
		{"-s", "-1", "write_bw", "192.0.2.1"},
		{"-s", strconv.Itoa(maxSize + 1), "write_bw", "192.0.2.1"},
		{"-n", "1", "send_lat", "192.0.2.1"},
		{"-l", "200", "write_bw", "192.0.2.1"},
		{"-Q", "0", "write_bw", "192.0.2.1"},
		{"-n", strconv.Itoa(maxIters + 1), "send_lat", "192.0.2.1"},
		{"-l", "2", "-Q", "3", "-t", "3", "write_bw", "192.0.2.1"},
		{"-l", "100", "-Q", "128", "write_bw", "192.0.2.1"},
		{"-n", "3", "-l", "4", "write_bw", "192.0.2.1"},
		{"-x", "write_bw", "192.0.2.1"},
		{"-c", "0", "cmtime", "192.0.2.1"},
		{"-n", "-1", "cmtime", "192.0.2.1"},
		{"-p", "70000"},
		{"-yield", "-1ms"},
		{"-settle", "-1ms"},
	} {
		var errOut bytes.Buffer
		err := run(args, new(bytes.Buffer), &errOut)
		if err == nil {
			t.Errorf("%q: no error", args)
			continue
		}
		if errOut.Len() != 0 {
			t.Errorf("%q: printed %q besides the error", args, errOut.String())
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || msg == "" {
			t.Errorf("%q: error %q is not one line", args, msg)
		}
	}
}

// TestWriteBWParams: write_bw's queue depth, post list and CQ moderation
// follow perftest's rules, so that every post reaches a signaled request.
func TestWriteBWParams(t *testing.T) {
	for _, tc := range []struct {
		args                   []string
		txDepth, postList, mod int
	}{
		{[]string{"-t", "64"}, 64, 1, 64},                               // -Q 100 lowered to the depth
		{[]string{"-l", "100", "-n", "1000"}, 128, 100, 100},            // -Q follows the post list
		{[]string{"-l", "100", "-Q", "50", "-n", "1000"}, 128, 100, 50}, // a divisor of it is kept
		{[]string{"-l", "4", "-Q", "8", "-t", "16"}, 16, 4, 8},          // or one the queue reaches
		{[]string{"-n", "20"}, 20, 1, 20},                               // the depth no more than the writes
	} {
		c, err := parse(append(tc.args, modeWriteBW, "192.0.2.1"), io.Discard)
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if c.txDepth != tc.txDepth || c.postList != tc.postList || c.cqMod != tc.mod {
			t.Errorf("%q: -t %d -l %d -Q %d, want %d, %d, %d", tc.args, c.txDepth, c.postList, c.cqMod, tc.txDepth, tc.postList, tc.mod)
		}
	}
}

// TestHelpAndRequestLimits: -h prints the usage and is no error for main;
// the server refuses requests over the command line's limits.
func TestHelpAndRequestLimits(t *testing.T) {
	var errOut bytes.Buffer
	if err := run([]string{"-h"}, io.Discard, &errOut); !errors.Is(err, flag.ErrHelp) || !strings.HasPrefix(errOut.String(), "usage: rdma-perf") {
		t.Errorf("-h: %v, printed %q", err, errOut.String())
	}
	for _, r := range []request{
		{mode: modeSendLat, sizes: []int{2}, iters: maxIters + 1, conns: 1},
		{mode: modeCMTime, sizes: []int{1}, iters: 1, conns: maxConns + 1},
		{mode: modeSendLat, sizes: []int{2}, iters: 10, conns: 1, inline: maxInline + 1},
	} {
		if _, err := unmarshalRequest(r.marshal()); err == nil {
			t.Errorf("request %+v accepted", r)
		}
	}
}
