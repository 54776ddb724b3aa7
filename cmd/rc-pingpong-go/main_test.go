package main

import (
	"bytes"
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-rdma/rdma/internal/testbed"
	"github.com/go-rdma/rdma/verbs"
)

func TestWireFormat(t *testing.T) {
	d := dest{lid: 0x12, qpn: 0x11, psn: 0xabcdef, gid: verbs.GID{10: 0xff, 11: 0xff, 12: 192, 13: 0, 14: 2, 15: 1}}
	msg := d.marshal()
	want := "0012:000011:abcdef:00000000000000000000ffffc0000201\x00"
	if string(msg) != want {
		t.Errorf("marshal = %q, want %q", msg, want)
	}
	if got, err := parseDest(msg); err != nil || got != d {
		t.Errorf("parseDest = %+v, %v", got, err)
	}
	if _, err := parseDest([]byte("0012:zz:1:00")); err == nil {
		t.Error("parseDest accepted a malformed address")
	}
}

// device returns the device under test and the GID index ibv_rc_pingpong
// needs (-g). On iWARP devices, whose QPs cannot be connected by hand, it
// shows that C ibv_rc_pingpong fails against itself and skips.
func device(t *testing.T, port string) (string, int) {
	t.Helper()
	name := testbed.Device(t)
	if testbed.IWARP(t) {
		testbed.Limitation(t, "%s is iWARP: its QPs reach RTS only through the iWARP connection manager, "+
			"not by ibv_rc_pingpong's hand connection; C ibv_rc_pingpong fails against itself there (server: %q)",
			name, cPingpongFailure(t, name, port))
	}
	ctx, err := verbs.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Close()
	table, err := ctx.GIDTable()
	if err != nil || len(table) == 0 {
		t.Fatalf("GID table %v, %v", table, err)
	}
	return name, table[len(table)-1].Index
}

// cPingpongFailure runs C ibv_rc_pingpong's server and client against each
// other on dev and returns the server's error output; it fails t if the
// server succeeds.
func cPingpongFailure(t *testing.T, dev, port string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := []string{"-d", dev, "-g", "0", "-p", port, "-n", "1"}
	var serverOut bytes.Buffer
	server := exec.CommandContext(ctx, "ibv_rc_pingpong", args...)
	server.Stdout, server.Stderr = &serverOut, &serverOut
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	// The client retries until the server listens, then fails with it.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		out, _ := exec.CommandContext(ctx, "ibv_rc_pingpong", append(args, testbed.Addr(t))...).CombinedOutput()
		if !strings.Contains(string(out), "Couldn't connect to "+testbed.Addr(t)) {
			break
		}
	}
	switch err := server.Wait(); {
	case ctx.Err() != nil:
		t.Fatalf("C ibv_rc_pingpong server still running after 30 s:\n%s", serverOut.String())
	case err == nil:
		t.Fatalf("C ibv_rc_pingpong succeeded on %s:\n%s", dev, serverOut.String())
	}
	var errs []string
	for _, line := range strings.Split(strings.TrimSpace(serverOut.String()), "\n") {
		if !strings.Contains(line, "address:") {
			errs = append(errs, strings.TrimSpace(line))
		}
	}
	return strings.Join(errs, "; ")
}

var addrLine = regexp.MustCompile(`(local|remote) address: +(LID 0x[0-9a-f]+, QPN 0x[0-9a-f]+, PSN 0x[0-9a-f]+, GID \S+)`)

// addresses returns the local and remote address lines a pingpong printed.
func addresses(t *testing.T, out string) (local, remote string) {
	t.Helper()
	for _, m := range addrLine.FindAllStringSubmatch(out, -1) {
		if m[1] == "local" {
			local = m[2]
		} else {
			remote = m[2]
		}
	}
	if local == "" || remote == "" || !strings.Contains(out, "iters in") {
		t.Fatalf("incomplete pingpong output:\n%s", out)
	}
	return local, remote
}

const iters = "200"

// The Go server answers C ibv_rc_pingpong's client.
func TestGoServerCClient(t *testing.T) {
	port := "18515"
	dev, gidx := device(t, port)
	args := []string{"-d", dev, "-g", strconv.Itoa(gidx), "-p", port, "-n", iters, "-s", "1024"}
	var goOut bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(args, &goOut) }()
	cOut := retry(t, func() ([]byte, error) {
		return exec.Command("ibv_rc_pingpong", append(args, testbed.Addr(t))...).CombinedOutput()
	})
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Go server: %v\n%s", err, goOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Go server still running 30 s after the C client finished")
	}
	checkPair(t, goOut.String(), string(cOut))
}

// The Go client talks to C ibv_rc_pingpong's server.
func TestGoClientCServer(t *testing.T) {
	port := "18516"
	dev, gidx := device(t, port)
	args := []string{"-d", dev, "-g", strconv.Itoa(gidx), "-p", port, "-n", iters, "-s", "1024"}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var cOut bytes.Buffer
	server := exec.CommandContext(ctx, "ibv_rc_pingpong", args...)
	server.Stdout, server.Stderr = &cOut, &cOut
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	var goOut bytes.Buffer
	retry(t, func() ([]byte, error) {
		goOut.Reset()
		err := run(append(args, testbed.Addr(t)), &goOut)
		return goOut.Bytes(), err
	})
	if err := server.Wait(); err != nil {
		t.Fatalf("C server: %v\n%s", err, cOut.String())
	}
	checkPair(t, goOut.String(), cOut.String())
}

// retry runs a pingpong client until its server listens (at most 10 s).
func retry(t *testing.T, client func() ([]byte, error)) []byte {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, err := client()
		if err == nil {
			return out
		}
		if time.Now().After(deadline) || !strings.Contains(strings.ToLower(err.Error()+string(out)), "connect") {
			t.Fatalf("client: %v\n%s", err, out)
		}
	}
}

// checkPair checks that each side saw the other's address and finished.
func checkPair(t *testing.T, goOut, cOut string) {
	t.Helper()
	t.Logf("Go:\n%sC:\n%s", goOut, cOut)
	goLocal, goRemote := addresses(t, goOut)
	cLocal, cRemote := addresses(t, cOut)
	if goLocal != cRemote || cLocal != goRemote {
		t.Errorf("addresses disagree: Go %q / %q, C %q / %q", goLocal, goRemote, cLocal, cRemote)
	}
}

// A setup step that fails (here the device) gives its error; what was made
// before it is closed, and nothing panics. It needs no device.
func TestOpenFailureCloses(t *testing.T) {
	p, err := open(&config{dev: "no-such-device", size: 4096, rxDepth: 1, ibPort: 1})
	if err == nil || p != nil {
		t.Fatalf("open of a missing device: %v, %v; want an error", p, err)
	}
	t.Log(err)
}

// TestParseFlags: ibv_rc_pingpong's command lines, as its getopt_long reads
// them.
func TestParseFlags(t *testing.T) {
	var out bytes.Buffer
	c, err := parseFlags([]string{"host", "-eg0", "--iters=0x10", "--ib-d", "rxe0", "-s", "64", "--mtu", "4096", "-r010"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	want := config{port: 18515, ibPort: 1, size: 64, rxDepth: 8, iters: 16, gidIndex: 0, mtu: verbs.MTU4096, dev: "rxe0", server: "host", events: true}
	if *c != want || out.Len() != 0 {
		t.Errorf("parsed %+v, printed %q; want %+v", *c, out.String(), want)
	}
	if c, err := parseFlags(nil, &out); err != nil || c.server != "" || c.gidIndex != -1 || c.mtu != verbs.MTU1024 {
		t.Errorf("defaults: %+v, %v", c, err)
	}
	if c, err := parseFlags([]string{"-r", "1"}, &out); err != nil || c.rxDepth != 1 {
		t.Errorf("-r 1 (one receive, refilled after each): %+v, %v", c, err)
	}
	for _, args := range [][]string{{"--iters"}, {"-m", "1000"}, {"a", "b"}, {"-n", "ten"}, {"--odp"}, {"-l", "16"}, {"-d", ""}, {""}, {"-n", "0"}, {"-r", "0"}} {
		out.Reset()
		if _, err := parseFlags(args, &out); err == nil || !strings.HasPrefix(out.String(), "Usage:") {
			t.Errorf("parseFlags(%q): %v, printed %q; want an error and the usage", args, err, out.String())
		}
	}
	if _, err := parseFlags([]string{"--help"}, &out); err != errHelp {
		t.Errorf("--help: %v, want errHelp", err)
	}
}
