package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// goRun runs rping-go in-process with args and returns its exit status,
// stdout and stderr.
func goRun(ctx context.Context, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(ctx, args, &env{stdout: &out, stderr: &errOut})
	return code, out.String(), errOut.String()
}

func TestParseArgs(t *testing.T) {
	c, err := parseArgs(context.Background(), []string{"-cvV", "-a", "192.0.2.1", "-C10", "-S", "4096", "-p7175", "-I", "192.0.2.2", "-dq", "--json"})
	if err != nil {
		t.Fatal(err)
	}
	want := config{client: true, addr: "192.0.2.1", source: "192.0.2.2", port: 7175, count: 10, size: 4096,
		verbose: true, validate: true, debug: true, selfQP: true, json: true}
	if *c != want {
		t.Errorf("parsed %+v, want %+v", *c, want)
	}
	c, err = parseArgs(context.Background(), []string{"-s", "-P"})
	if err != nil {
		t.Fatal(err)
	}
	if want := (config{server: true, persistent: true, port: defaultPort, size: defaultSize}); *c != want {
		t.Errorf("defaults %+v, want %+v", *c, want)
	}
	for _, size := range []int{minSize, maxSize} {
		c, err := parseArgs(context.Background(), []string{"-s", "-S", fmt.Sprint(size)})
		if err != nil || c.size != size {
			t.Errorf("-S %d: %+v, %v", size, c, err)
		}
	}
}

// TestBadFlags checks rping's messages (the same text as C rping where it
// has one), the non-zero exit and that nothing hangs.
func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string // the first stderr line
	}{
		{[]string{"-s", "-c", "-a", "192.0.2.1"}, "rping-go: -s and -c are exclusive: run either a server or a client"},
		{[]string{"-c", "-a", "192.0.2.1", "-S", "22"}, "rping-go: Invalid size 22 (valid range is 23 to 65536)"},
		{[]string{"-c", "-a", "192.0.2.1", "-S", "65536"}, "rping-go: Invalid size 65536 (valid range is 23 to 65536)"},
		{[]string{"-c", "-a", "192.0.2.1", "-S", "big"}, "rping-go: Invalid size big (valid range is 23 to 65536)"},
		{[]string{"-c", "-a", "192.0.2.1", "-C", "-1"}, "rping-go: Invalid count -1"},
		{[]string{"-c", "-a", "192.0.2.1", "-p", "70000"}, "rping-go: Invalid port 70000 (valid range is 0 to 65535)"},
		{[]string{"-c"}, "rping-go: the client needs the server's address: -a addr"},
		{[]string{"-v"}, "rping-go: choose a side: -s (server) or -c (client)"},
		{[]string{"-s", "-x"}, "rping-go: unknown option -x"},
		{[]string{"-s", "-t", "1"}, "rping-go: unknown option -t"},
		{[]string{"-s", "-a"}, "rping-go: option -a needs an argument"},
		{[]string{"-s", "extra"}, `rping-go: unexpected argument "extra"`},
		{[]string{"-c", "-a", "no-such-host.invalid"}, `rping-go: getaddrinfo failed (*) - invalid hostname or IP address "no-such-host.invalid"`},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		code, stdout, stderr := goRun(ctx, tc.args...)
		cancel()
		first, _, _ := strings.Cut(stderr, "\n")
		// (*) stands for the resolver's reason, which depends on the host.
		pre, post, wild := strings.Cut(tc.msg, "(*)")
		match := first == tc.msg || wild && strings.HasPrefix(first, pre) && strings.HasSuffix(first, post)
		if code != 1 || !match || stdout != "" {
			t.Errorf("rping-go %q: exit %d, stdout %q, first stderr line %q; want exit 1, no stdout, %q",
				tc.args, code, stdout, first, tc.msg)
		}
	}
}

// TestBadSizeMessageAsC compares the size message with C rping's own.
func TestBadSizeMessageAsC(t *testing.T) {
	path := cRping(t)
	for _, size := range []string{"22", "65536"} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, path, "-c", "-a", "192.0.2.1", "-S", size).CombinedOutput()
		cancel()
		if err == nil {
			t.Fatalf("C rping -S %s succeeded", size)
		}
		_, _, stderr := goRun(context.Background(), "-c", "-a", "192.0.2.1", "-S", size)
		if want := "rping-go: " + string(out); stderr != want {
			t.Errorf("-S %s: rping-go says %q, C rping %q", size, stderr, out)
		}
	}
}

func TestHelp(t *testing.T) {
	code, stdout, stderr := goRun(context.Background(), "-h")
	if code != 0 || !strings.HasPrefix(stdout, "rping-go -s [-vVd]") || stderr != "" {
		t.Errorf("-h: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// cRping returns the path of C rping (rdmacm-utils).
func cRping(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("rping")
	if err != nil {
		t.Fatalf("C rping not found (install rdmacm-utils, or run hack/setup.sh): %v", err)
	}
	return path
}
