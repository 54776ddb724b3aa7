package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-rdma/rdma/internal/testbed"
)

// testTimeout bounds every run, C or Go, of these tests.
const testTimeout = 90 * time.Second

// syncBuffer is a bytes.Buffer safe to read while a run writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// result is the outcome of one run.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout (%d bytes, end):\n%s\nstderr:\n%s", r.code, len(r.stdout), tail(r.stdout), r.stderr)
}

func tail(s string) string {
	if len(s) > 2000 {
		return "…" + s[len(s)-2000:]
	}
	return s
}

// goServer starts an rping-go server (-s -a addr -p port plus args) in
// process and returns once it listens; stop cancels it and returns its
// result.
func goServer(t *testing.T, port int, args ...string) (stop func() result, stdout func() string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	var out, errOut syncBuffer
	ready := make(chan struct{})
	e := &env{stdout: &out, stderr: &errOut, ready: func(net.Addr) { close(ready) }}
	done := make(chan int, 1)
	all := append([]string{"-s", "-a", testbed.Addr(t), "-p", fmt.Sprint(port)}, args...)
	go func() { done <- run(ctx, all, e) }()
	select {
	case <-ready:
	case code := <-done:
		t.Fatalf("rping-go %q did not start: %v", all, result{code, out.String(), errOut.String()})
	case <-ctx.Done():
		t.Fatalf("rping-go %q did not listen in time", all)
	}
	return func() result {
		cancel()
		return result{<-done, out.String(), errOut.String()}
	}, out.String
}

// goClient runs an rping-go client of the server on port.
func goClient(t *testing.T, port int, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	all := append([]string{"-c", "-a", testbed.Addr(t), "-p", fmt.Sprint(port)}, args...)
	code, stdout, stderr := goRun(ctx, all...)
	return result{code, stdout, stderr}
}

// cProc is a running C rping.
type cProc struct {
	cmd         *exec.Cmd
	out, errOut syncBuffer
	done        chan error
}

// cStart starts C rping with args, killed at the end of the test.
func cStart(t *testing.T, args ...string) *cProc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	p := &cProc{cmd: exec.CommandContext(ctx, cRping(t), args...), done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.errOut
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		<-p.done
	})
	return p
}

// wait waits for the C rping to exit (or the test timeout to kill it).
func (p *cProc) wait() result {
	err := <-p.done
	p.done <- err
	code := 0
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	}
	return result{code, p.out.String(), p.errOut.String()}
}

// cClient starts a C rping client of the server on port.
func cClient(t *testing.T, port int, args ...string) *cProc {
	t.Helper()
	return cStart(t, append([]string{"-c", "-a", testbed.Addr(t), "-p", fmt.Sprint(port)}, args...)...)
}

// cServer starts a C rping server on the device under test's address and
// waits until it listens (as `rdma resource show cm_id` tells).
func cServer(t *testing.T, port int, args ...string) *cProc {
	t.Helper()
	p := cStart(t, append([]string{"-s", "-a", testbed.Addr(t), "-p", fmt.Sprint(port)}, args...)...)
	testbed.WaitCMListen(t, p.cmd.Process.Pid, "rping", net.JoinHostPort(testbed.Addr(t), fmt.Sprint(port)))
	return p
}

// pingLines returns the lines of out that start with prefix ("ping data: "
// or "server ping data: ").
func pingLines(out, prefix string) []string {
	var lines []string
	for l := range strings.Lines(out) {
		if strings.HasPrefix(l, prefix) {
			lines = append(lines, strings.TrimSuffix(l, "\n"))
		}
	}
	return lines
}

// wantLines returns the -v lines of count pings of size bytes, prefixed.
func wantLines(prefix string, count, size int) []string {
	b := make([]byte, size)
	lines := make([]string, count)
	for i := range lines {
		fillPattern(b, i)
		lines[i] = prefix + string(cstring(b))
	}
	return lines
}

func sameLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d lines, want %d", what, len(got), len(want))
		return
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("%s: line %d is\n%q\nwant\n%q", what, i, got[i], want[i])
			return
		}
	}
}

// summaryPings checks the text summary of a run with pings pings of size
// bytes each way.
func summaryPings(t *testing.T, who string, r result, pings, size int) {
	t.Helper()
	want := fmt.Sprintf("%d pings, %d bytes of ping data read and written", pings, 2*pings*size)
	if !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, "round trip min/avg/p50/p99/max = ") {
		t.Errorf("%s: no summary %q:\n%v", who, want, r)
	}
}

func TestGoClientCServer(t *testing.T) {
	testbed.Device(t)
	for i, tc := range []struct {
		size, count int
		flags       []string
	}{
		{64, 500, nil},
		{4096, 1, []string{"-q"}},
		{maxSize, 1, nil},
	} {
		t.Run(fmt.Sprintf("S%d_C%d", tc.size, tc.count), func(t *testing.T) {
			port := 7300 + i
			args := append([]string{"-V", "-v", "-S", fmt.Sprint(tc.size)}, tc.flags...)
			srv := cServer(t, port, args...)
			r := goClient(t, port, append(args, "-C", fmt.Sprint(tc.count))...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("rping-go client: %v", r)
			}
			s := srv.wait()
			if s.code != 0 {
				t.Errorf("C server: %v", s)
			}
			// Our lines, the C server's lines and the pattern agree.
			want := wantLines("ping data: ", tc.count, tc.size)
			sameLines(t, "rping-go client -v", pingLines(r.stdout, "ping data: "), want)
			sameLines(t, "C server -v", pingLines(s.stdout, "server ping data: "), wantLines("server ping data: ", tc.count, tc.size))
			summaryPings(t, "rping-go client", r, tc.count, tc.size)
		})
	}
}

func TestCClientGoServer(t *testing.T) {
	testbed.Device(t)
	for i, tc := range []struct {
		size, count int
		flags       []string
	}{
		{64, 500, nil},
		{4096, 1, []string{"-q"}}, // ours only: C rping -q fails on iWARP (rdma_establish: EINVAL)
		{maxSize, 1, nil},
	} {
		t.Run(fmt.Sprintf("S%d_C%d", tc.size, tc.count), func(t *testing.T) {
			port := 7310 + i
			args := []string{"-V", "-v", "-S", fmt.Sprint(tc.size)}
			stop, _ := goServer(t, port, append(args, tc.flags...)...)
			c := cClient(t, port, append(args, "-C", fmt.Sprint(tc.count))...).wait()
			s := stop()
			if c.code != 0 || strings.Contains(c.stderr, "mismatch") {
				t.Errorf("C client: %v", c)
			}
			// The server validated (-V) every ping read from the client.
			if s.code != 0 || s.stderr != "" {
				t.Fatalf("rping-go server: %v", s)
			}
			sameLines(t, "C client -v", pingLines(c.stdout, "ping data: "), wantLines("ping data: ", tc.count, tc.size))
			sameLines(t, "rping-go server -v", pingLines(s.stdout, "server ping data: "), wantLines("server ping data: ", tc.count, tc.size))
			summaryPings(t, "rping-go server", s, tc.count, tc.size)
		})
	}
}

// TestVerboseLinesAsC runs C rping against itself and rping-go against C
// rping with the same flags: the -v lines of each side must be identical.
func TestVerboseLinesAsC(t *testing.T) {
	testbed.Device(t)
	const count = 60 // the letters restart after 58 pings
	args := []string{"-v", "-C", fmt.Sprint(count), "-S", "100"}
	srv := cServer(t, 7320, args...)
	cc := cClient(t, 7320, args...).wait()
	cs := srv.wait()
	if cc.code != 0 || cs.code != 0 {
		t.Fatalf("C client %v\nC server %v", cc, cs)
	}
	refClient, refServer := pingLines(cc.stdout, "ping data: "), pingLines(cs.stdout, "server ping data: ")
	if len(refClient) != count || len(refServer) != count {
		t.Fatalf("C rping printed %d client and %d server lines, want %d", len(refClient), len(refServer), count)
	}

	srv = cServer(t, 7321, args...)
	gc := goClient(t, 7321, args...)
	if gc.code != 0 || srv.wait().code != 0 {
		t.Fatalf("rping-go client: %v", gc)
	}
	sameLines(t, "rping-go client vs C client", pingLines(gc.stdout, "ping data: "), refClient)

	stop, _ := goServer(t, 7322, args...)
	if c := cClient(t, 7322, args...).wait(); c.code != 0 {
		t.Fatalf("C client: %v", c)
	}
	gs := stop()
	sameLines(t, "rping-go server vs C server", pingLines(gs.stdout, "server ping data: "), refServer)
}

// TestPersistentServer has two C clients at once on an rping-go -P server:
// a short one runs and ends while an endless one pings.
func TestPersistentServer(t *testing.T) {
	testbed.Device(t)
	const port = 7330
	stop, stdout := goServer(t, port, "-P", "-V", "--json")
	long := cClient(t, port, "-V", "-v", "-C", "0")
	pings := func() int { return len(pingLines(long.out.String(), "ping data: ")) }
	for deadline := time.Now().Add(30 * time.Second); pings() == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the long client never pinged: %v", long.wait())
		}
	}
	short := cClient(t, port, "-V", "-C", "5").wait()
	if short.code != 0 {
		t.Errorf("short client: %v", short)
	}
	// The long client goes on pinging after the short one ended.
	before := pings()
	for deadline := time.Now().Add(30 * time.Second); pings() == before; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the long client stopped pinging: %v", long.wait())
		}
	}
	// The server ends the short client's session on its own, while the long
	// one goes on: it prints that session's summary. It learns of the end
	// from the client's disconnect request, which the IB CM repeats seconds
	// later when it goes unanswered, so this waits as long as the other
	// steps do. (Killing the long client as soon as it pinged again, a CI
	// run on rxe under the race detector once got the short session's
	// summary last, printed only when the server stopped.)
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(stdout(), `"pings":5,`); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the server did not end the short client's session:\n%s", stdout())
		}
	}
	long.cmd.Process.Kill()
	long.wait()
	s := stop()
	if s.code != 0 {
		t.Fatalf("rping-go -P: %v", s)
	}
	// One JSON summary a client: the short one's first, clean; then the
	// long one's, which may report that its client vanished mid-ping.
	var sums []summary
	for l := range strings.Lines(s.stdout) {
		var sum summary
		if err := json.Unmarshal([]byte(l), &sum); err != nil || sum.Role != "server" {
			t.Fatalf("summary line %q: %+v, %v", l, sum, err)
		}
		sums = append(sums, sum)
	}
	if len(sums) != 2 || sums[0].Pings != 5 || sums[0].Error != "" || sums[0].Bytes != 5*128 || sums[1].Pings <= int64(before) {
		t.Errorf("summaries %+v, want 5 clean pings then more than %d:\n%s", sums, before, s.stdout)
	}
	if len(sums) == 2 && sums[1].Error == "" && s.stderr != "" || sums[1].Error != "" && !strings.Contains(s.stderr, sums[1].Peer) {
		t.Errorf("stderr %q, want nothing but the long client's end", s.stderr)
	}
}

// TestRunErrors: failures end with one rping-style line and exit 1, in
// bounded time.
func TestRunErrors(t *testing.T) {
	addr := testbed.Addr(t)
	stop, _ := goServer(t, 7340)
	defer stop()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"port in use", []string{"-s", "-a", addr, "-p", "7340"}, "rping-go: listen " + addr + ":7340: address already in use"},
		{"unreachable", []string{"-c", "-a", "192.0.2.99", "-p", "7341", "-C", "1"}, "rping-go: resolve 192.0.2.99:7341: RDMA_CM_EVENT_ADDR_ERROR: "},
		{"nobody listening", []string{"-c", "-a", addr, "-p", "7342", "-C", "1"}, "rping-go: connect " + addr + ":7342: "},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			code, stdout, stderr := goRun(ctx, tc.args...)
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			if code != 1 || len(lines) != 1 || !strings.HasPrefix(lines[0], tc.want) {
				t.Errorf("exit %d, stderr %q, want exit 1 and one line starting %q", code, stderr, tc.want)
			}
			if ctx.Err() != nil {
				t.Errorf("took %v: only the test's timeout ended it", time.Since(start))
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing (no connection, no summary)", stdout)
			}
		})
	}
}

// A client that vanishes in the middle of a run (killed) ends a one-client
// server normally, as in C rping: exit status 0, a summary that names the
// interruption when it came mid-ping, and that one line on stderr.
//
// siw now and then (1 run in 5 to 15, at 2ed2e7d as now) reports nothing to
// the surviving side of a killed peer's connection: its cm_id stays
// connected and no completion flushes, so C rping would wait forever as
// the Go server does. The test then tries again, up to five times.
func TestServerClientKilled(t *testing.T) {
	const port = 7331
	for attempt := 0; ; attempt++ {
		stop, stdout := goServer(t, port, "-V", "--json")
		client := cClient(t, port, "-V", "-v", "-C", "0")
		for deadline := time.Now().Add(30 * time.Second); len(pingLines(client.out.String(), "ping data: ")) < 3; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the client never pinged: %v", client.wait())
			}
		}
		client.cmd.Process.Kill()
		client.wait()
		ended := false
		for deadline := time.Now().Add(10 * time.Second); !ended && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			ended = strings.Contains(stdout(), `"role":"server"`)
		}
		if !ended {
			cmIDs, _ := exec.Command("rdma", "resource", "show", "cm_id").CombinedOutput()
			// The server's connection, its client gone (the pid shown is
			// the thread's that took the request in).
			lost := testbed.Device(t) == os.Getenv("RDMA_SIW_DEV") && regexp.MustCompile(`state CONNECT ps TCP pid \d+ comm rping-go.test src-addr `+
				regexp.QuoteMeta(net.JoinHostPort(testbed.Addr(t), fmt.Sprint(port)))+` `).Match(cmIDs)
			s := stop()
			if lost && attempt < 5 {
				t.Logf("attempt %d: siw reported no end of the killed client's connection (server: %v):\n%s", attempt, s, cmIDs)
				continue
			}
			t.Fatalf("the server did not end after its client died: %v\n%s", s, cmIDs)
		}
		s := stop()
		t.Logf("server: %v", s)
		var sum summary
		if err := json.Unmarshal([]byte(s.stdout), &sum); err != nil {
			t.Fatalf("summary %q: %v", s.stdout, err)
		}
		// The kernel can tear the killed client's memory region down
		// before its QP: the server's RDMA request in flight then fails
		// with a remote access error before the disconnect arrives, a
		// failure of the run, as in C rping (CI, 2026-12-01, rxe -race).
		accessErr := s.code == 1 && strings.Contains(sum.Error, "remote access error")
		if s.code != 0 && !accessErr || sum.Pings < 2 || sum.Error != "" && !strings.Contains(s.stderr, sum.Peer) {
			t.Errorf("exit status %d, summary %+v, stderr %q: want 0 (or 1 for a remote access error), the pings made and the interruption on stderr", s.code, sum, s.stderr)
		}
		return
	}
}
