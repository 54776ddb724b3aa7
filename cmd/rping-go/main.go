package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/go-rdma/rdma/rdmacm"
	"golang.org/x/sys/unix"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal ends the run with its summary; a second one, while
	// the run winds down, kills the process as C rping's first does.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], &env{stdout: os.Stdout, stderr: os.Stderr, tty: isTerminal(os.Stdout)})
	stop()
	os.Exit(code)
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// env is where a run writes, and what it tells its caller.
type env struct {
	stdout, stderr io.Writer
	tty            bool           // stdout is a terminal: live progress allowed
	ready          func(net.Addr) // called once the server listens
	mu             sync.Mutex     // serializes the connections' output
	cfg            *config
}

// run is rping-go with args (without the program name); it returns the
// exit status: 0 on success, 1 on any error. Cancelling ctx (SIGINT,
// SIGTERM) ends the run normally, with the summary.
func run(ctx context.Context, args []string, e *env) int {
	cfg, err := parseArgs(ctx, args)
	var ue *usageError
	switch {
	case errors.Is(err, errHelp):
		usage(e.stdout)
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "rping-go: %v\n", err)
		usage(e.stderr)
		return 1
	case err != nil:
		fmt.Fprintf(e.stderr, "rping-go: %v\n", err)
		return 1
	}
	e.cfg = cfg
	if cfg.server {
		err = runServer(ctx, cfg, e)
	} else {
		err = runClient(ctx, cfg, e)
	}
	if err != nil {
		e.errorf(err)
		return 1
	}
	return 0
}

func (e *env) printf(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fmt.Fprintf(e.stdout, format, args...)
}

func (e *env) debugf(format string, args ...any) {
	if e.cfg.debug {
		e.printf(format, args...)
	}
}

// errorf prints err as one line on stderr.
func (e *env) errorf(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fmt.Fprintf(e.stderr, "rping-go: %s\n", describe(err))
}

func (e *env) summary(s summary) {
	var b bytes.Buffer
	s.print(&b, e.cfg.json)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stdout.Write(b.Bytes())
}

// describe turns err into one line naming what failed: the rdma_cm step
// and address, the rdma_cm event or the work completion status in words.
func describe(err error) string {
	var oe *rdmacm.OpError
	var re *rdmacm.RejectError
	switch {
	case errors.As(err, &oe):
		where := oe.Op
		if oe.Addr != "" {
			where += " " + oe.Addr
		}
		return where + ": " + describe(oe.Err)
	case errors.As(err, &re) && re.Status >= 0:
		return "RDMA_CM_EVENT_REJECTED: " + re.Reason()
	case errors.As(err, &re):
		return re.Reason()
	}
	return err.Error()
}

// progressEvery is how often the live progress line is redrawn.
const progressEvery = 250 * time.Millisecond

// progress is the client's live progress line, drawn only on a terminal,
// without -v, for long runs (-C 0 or at least 1000).
type progress struct {
	e     *env
	count int
	last  time.Time
	drawn bool
}

func (e *env) progress(cfg *config) *progress {
	if !e.tty || cfg.verbose || cfg.json || (cfg.count != 0 && cfg.count < 1000) {
		return nil
	}
	return &progress{e: e, count: cfg.count, last: time.Now()}
}

func (p *progress) update(st *stats) {
	if p == nil || time.Since(p.last) < progressEvery {
		return
	}
	p.last = time.Now()
	of := ""
	if p.count > 0 {
		of = fmt.Sprintf("/%d", p.count)
	}
	p.e.printf("\r\033[K%d%s pings, round trip avg %.1f us", st.n, of, us(st.sum/time.Duration(st.n)))
	p.drawn = true
}

func (p *progress) clear() {
	if p != nil && p.drawn {
		p.e.printf("\r\033[K")
	}
}
