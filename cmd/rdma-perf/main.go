// Command rdma-perf measures RDMA message rate, bandwidth, latency and
// connection setup in the style of perftest (ib_write_bw, ib_send_lat,
// ib_write_lat, ib_read_lat with -R) and rdmacm-utils cmtime, over the Go
// binding (rdmacm + verbs).
//
// Like perftest, one binary is both ends: without an address it serves,
// with one it connects. The connection goes through rdma_cm; the client
// sends the test parameters in the connection request's private data, so
// the server needs no flags beyond its port. In write_bw and read_lat the
// server only waits for the client to disconnect, polling its CQ meanwhile
// as perftest's server does.
//
//	rdma-perf [flags]                      # server
//	rdma-perf [flags] MODE ADDRESS         # client
//
// Modes: write_bw, send_lat, write_lat, read_lat, cmtime.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"runtime/trace"
	"time"
)

// Modes, as the client names them and sends them to the server.
const (
	modeWriteBW  = "write_bw"
	modeSendLat  = "send_lat"
	modeWriteLat = "write_lat"
	modeReadLat  = "read_lat"
	modeCMTime   = "cmtime"
)

var modes = []string{modeWriteBW, modeSendLat, modeWriteLat, modeReadLat, modeCMTime}

// maxSize bounds -s: the server's buffer holds two messages of this size.
const maxSize = 1 << 20

// config is a run's parameters, from the flags.
type config struct {
	mode       string
	server     string // the server's IP address; empty on the server
	port       int
	bind       string // the server's listening IP address (default any)
	size       int
	all        bool
	iters      int
	txDepth    int
	postList   int
	cqMod      int
	inline     int
	warmUp     bool
	conns      int
	json       bool
	unsorted   bool
	cpuprofile string
	traceFile  string
	timeout    time.Duration
	yield      time.Duration
	settle     time.Duration
	cqModSet   bool // -Q was given
}

// minIters is the fewest iterations of mode: two posts make one latency
// sample; cmtime makes one pass or more.
func minIters(mode string) int {
	if mode == modeCMTime {
		return 1
	}
	return 2
}

// sizes returns the message sizes to test: -a gives 2 B … 64 KiB.
func (c *config) sizes() []int {
	if !c.all {
		return []int{c.size}
	}
	var s []int
	for n := 2; n <= 64<<10; n *= 2 {
		s = append(s, n)
	}
	return s
}

// parse reads args (without the program name) into a config.
func parse(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("rdma-perf", flag.ContinueOnError)
	// Errors come back as one line (main prints it); the usage is for -h.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.IntVar(&c.port, "p", 18515, "rdma_cm port")
	fs.StringVar(&c.bind, "b", "", "server: IP address to listen on (default: any); cmtime client: IP address to bind")
	fs.IntVar(&c.size, "s", 0, "message size in bytes (default 65536 for write_bw, 2 for latency)")
	fs.BoolVar(&c.all, "a", false, "run sizes 2 B … 64 KiB")
	fs.IntVar(&c.iters, "n", 0, "iterations per size (default 5000 for write_bw, 1000 for latency); cmtime: passes in one process (default 1)")
	fs.IntVar(&c.txDepth, "t", 128, "write_bw: send queue depth (outstanding requests)")
	fs.IntVar(&c.postList, "l", 1, "write_bw: requests per post (post list)")
	fs.IntVar(&c.cqMod, "Q", 100, "write_bw: one signaled completion every Q requests (CQ moderation)")
	fs.BoolVar(&c.warmUp, "perform_warm_up", false, "write_bw: post one send queue of signaled writes and wait for them before measuring, as perftest's --perform_warm_up")
	fs.IntVar(&c.inline, "I", 0, "largest message sent inline (0: none, as perftest on rxe and siw)")
	fs.IntVar(&c.conns, "c", 100, "cmtime: connections")
	fs.BoolVar(&c.json, "json", false, "print results as JSON lines")
	fs.BoolVar(&c.unsorted, "U", false, "latency: print every sample in the order of the iterations, as perftest's --report-unsorted")
	fs.StringVar(&c.cpuprofile, "cpuprofile", "", "write a CPU profile of the run to `file`")
	fs.StringVar(&c.traceFile, "trace", "", "write a Go execution trace of the run to `file` (go tool trace); cmtime's steps are regions in it")
	fs.DurationVar(&c.timeout, "timeout", 0, "give up after this long (0: never)")
	fs.DurationVar(&c.yield, "yield", 5*time.Millisecond, "busy loops and cmtime's one-at-a-time steps yield to Go's scheduler this often, under its 10 ms preemption (0: never)")
	fs.DurationVar(&c.settle, "settle", 50*time.Millisecond, "before its first measured loop, a side spins this long without blocking or calling into C, so that Go's monitor thread, which the first call into C after a wait puts back to waking every 20 µs, has backed off (0: no)")
	// Flags may come before, between and after MODE and ADDRESS.
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			if !errors.Is(err, flag.ErrHelp) {
				return nil, fmt.Errorf("%w (rdma-perf -h for the flags)", err)
			}
			fmt.Fprintf(stderr, "usage: rdma-perf [flags]                 (server)\n"+
				"       rdma-perf [flags] MODE ADDRESS    (client; MODE: write_bw, send_lat, write_lat, read_lat, cmtime)\n")
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		rest, args = append(rest, fs.Arg(0)), fs.Args()[1:]
	}
	switch len(rest) {
	case 0:
	case 2:
		c.mode, c.server = rest[0], rest[1]
	default:
		return nil, errors.New("want no arguments (server) or MODE ADDRESS (client)")
	}
	fs.Visit(func(f *flag.Flag) { c.cqModSet = c.cqModSet || f.Name == "Q" })
	if c.server != "" {
		if err := c.defaults(); err != nil {
			return nil, err
		}
	}
	if c.port <= 0 || c.port > 65535 {
		return nil, fmt.Errorf("-p %d: not a port", c.port)
	}
	if c.yield < 0 {
		return nil, fmt.Errorf("-yield %v: want 0 or more", c.yield)
	}
	if c.settle < 0 {
		return nil, fmt.Errorf("-settle %v: want 0 or more", c.settle)
	}
	return c, nil
}

// defaults fills the client's mode-dependent defaults and checks the values.
func (c *config) defaults() error {
	known := false
	for _, m := range modes {
		known = known || c.mode == m
	}
	if !known {
		return fmt.Errorf("unknown mode %q (want one of %v)", c.mode, modes)
	}
	bw := c.mode == modeWriteBW
	if c.size == 0 {
		c.size = 2
		if bw {
			c.size = 65536
		}
	}
	if c.iters == 0 {
		switch c.mode {
		case modeWriteBW:
			c.iters = 5000
		case modeCMTime:
			c.iters = 1
		default:
			c.iters = 1000
		}
	}
	switch {
	case c.size < 1 || c.size > maxSize:
		return fmt.Errorf("-s %d: want 1 … %d", c.size, maxSize)
	case c.iters < minIters(c.mode) || c.iters > maxIters:
		return fmt.Errorf("-n %d: want %d … %d", c.iters, minIters(c.mode), maxIters)
	case c.txDepth < 1 || c.txDepth > 8192:
		return fmt.Errorf("-t %d: want 1 … 8192", c.txDepth)
	case c.postList < 1 || c.postList > c.txDepth:
		return fmt.Errorf("-l %d: want 1 … tx depth (%d)", c.postList, c.txDepth)
	case c.cqMod < 1:
		return fmt.Errorf("-Q %d: want 1 or more", c.cqMod)
	case c.conns < 1 || c.conns > maxConns:
		return fmt.Errorf("-c %d: want 1 … %d", c.conns, maxConns)
	case c.inline < 0 || c.inline > maxInline:
		return fmt.Errorf("-I %d: want 0 … %d", c.inline, maxInline)
	}
	if bw {
		// As perftest: the queue no deeper than the writes, the moderation
		// no more than the queue, and a post list's size as the moderation
		// unless -Q says otherwise.
		c.txDepth = min(c.txDepth, c.iters)
		c.cqMod = min(c.cqMod, c.txDepth)
		if c.postList > c.txDepth {
			return fmt.Errorf("-l %d: want 1 … the writes (-n %d)", c.postList, c.iters)
		}
		if c.postList > 1 && !c.cqModSet {
			c.cqMod = c.postList
		}
		// Every window of posts must reach a signaled request, or the loop
		// would wait for a completion that never comes: each post list
		// ends with one, or the queue holds one more after any completion.
		if c.postList%c.cqMod != 0 && c.cqMod > c.txDepth-c.postList+1 {
			return fmt.Errorf("-Q %d with -l %d and -t %d: no post would reach a signaled request (want -l a multiple of -Q, or -Q up to %d)",
				c.cqMod, c.postList, c.txDepth, c.txDepth-c.postList+1)
		}
	}
	return nil
}

// Limits of the command line, which the server applies to a client's
// request too.
const (
	maxIters  = 1 << 24
	maxConns  = 10000
	maxInline = 1024
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "rdma-perf:", err)
		os.Exit(1)
	}
}

// run parses args and runs the server or the client.
func run(args []string, stdout, stderr io.Writer) error {
	c, err := parse(args, stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	// The CPU profile and the execution trace, each written to its file
	// from here to the end of the run.
	for _, rec := range []struct {
		file  string
		start func(io.Writer) error
		stop  func()
	}{
		{c.cpuprofile, pprof.StartCPUProfile, pprof.StopCPUProfile},
		{c.traceFile, trace.Start, trace.Stop},
	} {
		if rec.file == "" {
			continue
		}
		f, err := os.Create(rec.file)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := rec.start(f); err != nil {
			return err
		}
		defer rec.stop()
	}
	if c.server == "" {
		return serve(ctx, c, stdout)
	}
	return client(ctx, c, newReporter(c, stdout))
}
