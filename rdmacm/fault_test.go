package rdmacm_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/go-rdma/rdma/internal/testbed"
	"github.com/go-rdma/rdma/rdmacm"
	"github.com/go-rdma/rdma/verbs"
)

// TestMain runs the test binary as the peer of a fault test when
// RDMA_PEER_ROLE says so, and otherwise runs the tests, and the examples
// where there is a device (testbed.Main).
func TestMain(m *testing.M) {
	if role := os.Getenv("RDMA_PEER_ROLE"); role != "" {
		if err := runPeer(role, os.Getenv("RDMA_PEER_ADDR")); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(testbed.Main(m))
}

// Steps of the handshake the peer reports on its stdout, one per line.
const (
	stepRequested   = "requested"   // server: a request arrived, not answered
	stepResponded   = "responded"   // client: Connect returned (IB: CONNECT_RESPONSE), not completed
	stepEstablished = "established" // client: connection complete
	stepTransfer    = "transfer"    // client: RDMA writes flowing into the server's buffer
)

// runPeer is the peer process. Role "client" connects to addr, completes
// the connection and RDMA-writes without end into the buffer the server
// advertises in its accept's private data (address u64, rkey u32, length
// u32, big endian), reporting each step. Role "server" listens and reports
// the address, then each request, which it leaves unanswered.
func runPeer(role, addr string) error {
	ctx := context.Background()
	switch role {
	case "server":
		l, err := rdmacm.Listen(addr, 4)
		if err != nil {
			return err
		}
		fmt.Println("listening", l.Addr())
		for {
			if _, err := l.GetConnectionRequest(ctx); err != nil {
				return err
			}
			fmt.Println(stepRequested)
		}
	case "client":
		return runClient(ctx, addr, os.Getenv("RDMA_PEER_STOP"))
	}
	return fmt.Errorf("unknown peer role %q", role)
}

// runClient connects to addr with a Connector, reporting each step, and
// stops at stop: blocks there until killed.
func runClient(ctx context.Context, addr, stop string) error {
	c, err := rdmacm.NewConnector()
	if err != nil {
		return err
	}
	if err := c.Resolve(ctx, addr); err != nil {
		return err
	}
	dev, err := verbs.Open(c.DeviceName())
	if err != nil {
		return err
	}
	pd, err := dev.AllocPD()
	if err != nil {
		return err
	}
	cq, err := dev.CreateCQ(16, nil)
	if err != nil {
		return err
	}
	qp, err := pd.CreateQP(&verbs.QPInitAttr{Type: verbs.QPTypeRC, SendCQ: cq, RecvCQ: cq,
		Cap: verbs.QPCap{MaxSendWR: 4, MaxRecvWR: 4, MaxSendSGE: 1, MaxRecvSGE: 1}})
	if err != nil {
		return err
	}
	buf, err := verbs.NewBuffer(4096, nil)
	if err != nil {
		return err
	}
	mr, err := pd.RegMR(buf, 0, 0, verbs.AccessLocalWrite)
	if err != nil {
		return err
	}
	report := func(step string) {
		fmt.Println(step)
		if step == stop {
			select {}
		}
	}
	if err := c.Connect(ctx, "", qp, nil); err != nil {
		return err
	}
	report(stepResponded)
	if err := c.CompleteConnect(ctx); err != nil {
		return err
	}
	report(stepEstablished)
	d, err := c.ConnectionData()
	if err != nil {
		return err
	}
	if len(d.PrivateData) != 16 {
		return fmt.Errorf("accept private data %x", d.PrivateData)
	}
	raddr, rkey := binary.BigEndian.Uint64(d.PrivateData), binary.BigEndian.Uint32(d.PrivateData[8:])
	n := min(int(binary.BigEndian.Uint32(d.PrivateData[12:])), buf.Len())
	wcs := make([]verbs.WorkCompletion, 1)
	for i := 0; ; i++ {
		wr := verbs.SendWR{ID: uint64(i), Opcode: verbs.WRRDMAWrite, Flags: verbs.SendSignaled,
			SGL: []verbs.SGE{mr.SGE(0, n)}, RemoteAddr: raddr, RKey: rkey}
		if err := qp.PostSend([]verbs.SendWR{wr}); err != nil {
			return err
		}
		if _, err := cq.PollWait(ctx, wcs); err != nil {
			return err
		}
		if err := wcs[0].Err(); err != nil {
			return err
		}
		if i == 10 {
			report(stepTransfer)
		}
	}
}

// peer runs the test binary as a peer process of role.
type peer struct {
	cmd   *exec.Cmd
	lines chan string
	dead  chan struct{} // closed once the peer has exited
	err   error         // its exit status, once dead
	once  sync.Once
}

func startPeer(t *testing.T, role, addr, stop string) *peer {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "RDMA_PEER_ROLE="+role, "RDMA_PEER_ADDR="+addr, "RDMA_PEER_STOP="+stop)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &peer{cmd: cmd, lines: make(chan string, 16), dead: make(chan struct{})}
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			p.lines <- s.Text()
		}
		close(p.lines)
		p.err = cmd.Wait()
		close(p.dead)
	}()
	t.Cleanup(p.kill)
	return p
}

// await waits for the peer to report step (a line starting with it) and
// returns the line.
func (p *peer) await(t *testing.T, step string) string {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				<-p.dead
				t.Fatalf("peer exited before %q: %v", step, p.err)
			}
			if len(line) >= len(step) && line[:len(step)] == step {
				return line
			}
		case <-timeout:
			t.Fatalf("peer never reported %q", step)
		}
	}
}

// kill SIGKILLs the peer and waits until it is gone.
func (p *peer) kill() {
	p.once.Do(func() { p.cmd.Process.Kill() })
	<-p.dead
}

// TestPeerKilled kills the peer process at each step of the handshake and
// of a transfer: this side's pending call ends with an *OpError, or its
// connection reports the disconnect, within the context's bound, and every
// resource (ours and the dead peer's) is released.
func TestPeerKilled(t *testing.T) {
	testbed.Device(t)
	const bound = 15 * time.Second
	// disconnected waits for the connection to report the disconnect.
	disconnected := func(t *testing.T, e *rdmacm.Endpoint) {
		t.Helper()
		select {
		case <-e.Disconnected():
		case <-time.After(bound):
			t.Fatalf("no disconnect %v after the peer died", bound)
		}
	}
	// typed checks that err is a typed error of ours.
	typed := func(t *testing.T, err error) {
		t.Helper()
		var op *rdmacm.OpError
		if !errors.As(err, &op) {
			t.Fatalf("%v (%T) is not an *rdmacm.OpError", err, err)
		}
	}
	serverSide := []struct {
		step string
		// after the kill, with the result of Accept
		check func(t *testing.T, e *rdmacm.Endpoint, err error)
	}{
		{stepRequested, func(t *testing.T, e *rdmacm.Endpoint, err error) {
			// The dead peer's kernel refuses for it (IB CM REJ, TCP reset).
			if err == nil {
				disconnected(t, e)
				return
			}
			typed(t, err)
		}},
		{stepResponded, func(t *testing.T, e *rdmacm.Endpoint, err error) {
			// IB: the dead peer's kernel refuses the accept for it (a REJ
			// with no private data), the peer gave up. iWARP: Connect
			// completes, Accept too; then the disconnect.
			if err == nil {
				disconnected(t, e)
				return
			}
			typed(t, err)
			if !errors.Is(err, rdmacm.ErrConnectionAborted) {
				t.Errorf("accept after the peer died: %v, want ErrConnectionAborted", err)
			}
		}},
		{stepEstablished, func(t *testing.T, e *rdmacm.Endpoint, err error) {
			if err != nil {
				t.Fatalf("accept: %v", err)
			}
			disconnected(t, e)
		}},
		{stepTransfer, func(t *testing.T, e *rdmacm.Endpoint, err error) {
			if err != nil {
				t.Fatalf("accept: %v", err)
			}
			disconnected(t, e)
			if err := e.Disconnect(testContext(t)); err != nil {
				t.Errorf("Disconnect after the peer's death: %v", err)
			}
		}},
	}
	for _, tc := range serverSide {
		t.Run("client killed "+tc.step, func(t *testing.T) {
			ctx := testContext(t)
			l := listen(t, 4)
			base := settle(t, measure(t))
			start := time.Now()
			p := startPeer(t, "client", l.Addr().String(), tc.step)
			opts := &rdmacm.EndpointOptions{BufferSize: 4096, Params: &rdmacm.ConnParams{}}
			opts.BeforeConnect = func(e *rdmacm.Endpoint) error {
				opts.Params.PrivateData = binary.BigEndian.AppendUint64(nil, e.MR.Addr())
				opts.Params.PrivateData = binary.BigEndian.AppendUint32(opts.Params.PrivateData, e.MR.RKey())
				opts.Params.PrivateData = binary.BigEndian.AppendUint32(opts.Params.PrivateData, uint32(e.MR.Len()))
				if tc.step == stepRequested {
					p.kill()
				}
				return nil
			}
			if tc.step != stepRequested {
				go func() {
					for line := range p.lines {
						if line == tc.step {
							p.kill()
						}
					}
				}()
			}
			e, err := l.Accept(ctx, opts)
			// Accept may return before the peer reached the step.
			select {
			case <-p.dead:
			case <-time.After(bound):
				t.Fatalf("the peer never reached %q", tc.step)
			}
			tc.check(t, e, err)
			t.Logf("accept: %v; peer killed after %q, outcome after %v", err, tc.step, time.Since(start).Round(time.Millisecond))
			if e != nil {
				if err := e.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}
			settle(t, base)
		})
	}
	t.Run("server killed "+stepRequested, func(t *testing.T) {
		ctx := testContext(t)
		base := settle(t, measure(t))
		p := startPeer(t, "server", l0(t), "")
		line := p.await(t, "listening")
		addr := line[len("listening "):]
		done := make(chan error, 1)
		var e *rdmacm.Endpoint
		go func() {
			var err error
			e, err = rdmacm.Dial(ctx, addr, nil)
			done <- err
		}()
		p.await(t, stepRequested)
		p.kill()
		start := time.Now()
		select {
		case err := <-done:
			if err == nil {
				disconnected(t, e)
				e.Close()
			} else {
				typed(t, err)
			}
			t.Logf("dial: %v after %v", err, time.Since(start).Round(time.Millisecond))
		case <-time.After(bound):
			t.Fatalf("Dial still blocked %v after the server died", bound)
		}
		settle(t, base)
	})
}
