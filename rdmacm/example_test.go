// The examples check their output: they run where there is an RDMA device,
// on the address RDMA_TEST_ADDR names (in the test bed, on rxe and on siw);
// elsewhere TestMain leaves them out (testbed.Main).

package rdmacm_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"time"

	"github.com/go-rdma/rdma/rdmacm"
	"github.com/go-rdma/rdma/verbs"
)

// rdmaAddr is the IP address of an RDMA device's netdev (the test bed's
// device under test).
var rdmaAddr = os.Getenv("RDMA_TEST_ADDR")

// newQP opens device and makes an RC QP on it.
func newQP(device string) (*verbs.QP, func(), error) {
	ctx, err := verbs.Open(device)
	if err != nil {
		return nil, nil, err
	}
	pd, _ := ctx.AllocPD()
	cq, _ := ctx.CreateCQ(16, nil)
	qp, err := pd.CreateQP(&verbs.QPInitAttr{Type: verbs.QPTypeRC, SendCQ: cq, RecvCQ: cq,
		Cap: verbs.QPCap{MaxSendWR: 8, MaxRecvWR: 8, MaxSendSGE: 1, MaxRecvSGE: 1}})
	if err != nil {
		return nil, nil, err
	}
	return qp, func() { qp.Close(); cq.Close(); pd.Close(); ctx.Close() }, nil
}

// connectTo resolves addr, makes a QP on its device and connects it with
// private data hello, up to the server's answer; release closes what it made.
func connectTo(ctx context.Context, addr string, hello string) (c *rdmacm.Connector, release func(), err error) {
	if c, err = rdmacm.NewConnector(); err != nil {
		return nil, nil, err
	}
	if err := c.Resolve(ctx, addr); err != nil {
		c.Close()
		return nil, nil, err
	}
	qp, done, err := newQP(c.DeviceName())
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	release = func() { c.Close(); done() }
	if err := c.Connect(ctx, "", qp, &rdmacm.ConnParams{InboundReadLimit: 1, OutboundReadLimit: 1, PrivateData: []byte(hello)}); err != nil {
		release()
		return nil, nil, err
	}
	return c, release, nil
}

// client connects to addr with private data and completes the connection.
func client(ctx context.Context, addr string, hello string) error {
	c, release, err := connectTo(ctx, addr, hello)
	if err != nil {
		return err
	}
	defer release()
	if err := c.CompleteConnect(ctx); err != nil {
		return err
	}
	<-c.Disconnected()
	return nil
}

// acceptOne takes one connection request from l, accepts it with private data
// answer and returns once it is disconnected, or at once if it could not
// be accepted.
func acceptOne(ctx context.Context, l *rdmacm.Listener, answer string) {
	req, err := l.GetConnectionRequest(ctx)
	if err != nil {
		return
	}
	defer req.Close()
	qp, done, err := newQP(req.DeviceName())
	if err != nil {
		return
	}
	defer done()
	if req.Accept(ctx, qp, &rdmacm.ConnParams{InboundReadLimit: 1, OutboundReadLimit: 1, PrivateData: []byte(answer)}) == nil {
		<-req.Disconnected()
	}
}

// A server: listen, take a connection request, look at what the client
// sent, accept, and disconnect.
func ExampleListener() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := rdmacm.Listen(net.JoinHostPort(rdmaAddr, "0"), 16)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	go client(ctx, l.Addr().String(), "hello")

	req, err := l.GetConnectionRequest(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer req.Close()
	data, _ := req.ConnectionData()
	fmt.Printf("request: %q, %d inbound reads asked\n", data.PrivateData, data.InboundReadLimit)
	qp, done, err := newQP(req.DeviceName())
	if err != nil {
		log.Fatal(err)
	}
	defer done()
	if err := req.Accept(ctx, qp, &rdmacm.ConnParams{InboundReadLimit: 1, OutboundReadLimit: 1, PrivateData: []byte("welcome")}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("connected")
	if err := req.Disconnect(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("disconnected")
	// Output:
	// request: "hello", 1 inbound reads asked
	// connected
	// disconnected
}

// A client: connect, inspect the server's answer, complete the connection.
func ExampleConnector_Connect() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := rdmacm.Listen(net.JoinHostPort(rdmaAddr, "0"), 16)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	go acceptOne(ctx, l, "welcome") // the server accepts with private data

	c, err := rdmacm.NewConnector()
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.Resolve(ctx, l.Addr().String()); err != nil {
		log.Fatal(err)
	}
	qp, done, err := newQP(c.DeviceName())
	if err != nil {
		log.Fatal(err)
	}
	defer done()
	if err := c.Connect(ctx, "", qp, &rdmacm.ConnParams{InboundReadLimit: 1, OutboundReadLimit: 1}); err != nil {
		log.Fatal(err)
	}
	answer, _ := c.ConnectionData()
	fmt.Printf("server said %q, allows %d outbound reads\n", answer.PrivateData, answer.OutboundReadLimit)
	if err := c.CompleteConnect(ctx); err != nil {
		log.Fatal(err)
	}
	if err := c.Disconnect(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("done")
	// Output:
	// server said "welcome", allows 1 outbound reads
	// done
}

// Refusing a request with a reason; the client reads it from its
// *RejectError.
func ExampleConnector_Reject() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := rdmacm.Listen(net.JoinHostPort(rdmaAddr, "0"), 16)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	result := make(chan error, 1)
	go func() { result <- client(ctx, l.Addr().String(), "let me in") }()

	req, err := l.GetConnectionRequest(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer req.Close()
	if err := req.Reject([]byte("server full, try later")); errors.Is(err, rdmacm.ErrConnectionAborted) {
		fmt.Println("the client had already given up")
	} else if err != nil {
		log.Fatal(err)
	}

	var rej *rdmacm.RejectError
	if err := <-result; errors.As(err, &rej) {
		fmt.Printf("client refused: %q\n", rej.PrivateData)
	}
	// Output:
	// client refused: "server full, try later"
}

// A client that reads the server's answer before completing the connection
// and refuses it when the answer does not suit (NDK's Reject on the active
// side): here the server speaks an older protocol. On iWARP the connection
// is complete when Connect returns, so Reject reports ErrUnsupported and the
// client disconnects instead.
func ExampleConnector_ConnectionData() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := rdmacm.Listen(net.JoinHostPort(rdmaAddr, "0"), 16)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	served := make(chan struct{})
	go func() { // the server accepts, naming its protocol
		defer close(served)
		acceptOne(ctx, l, "proto v1")
	}()

	c, release, err := connectTo(ctx, l.Addr().String(), "")
	if err != nil {
		log.Fatal(err)
	}
	defer release()
	answer, err := c.ConnectionData()
	if err != nil {
		log.Fatal(err)
	}
	if string(answer.PrivateData) != "proto v2" {
		fmt.Printf("server speaks %q: leaving\n", answer.PrivateData)
		err := c.Reject([]byte("proto v2 only"))
		if errors.Is(err, rdmacm.ErrUnsupported) {
			err = c.Disconnect(ctx)
		}
		if err != nil {
			log.Fatal(err)
		}
	} else if err := c.CompleteConnect(ctx); err != nil {
		log.Fatal(err)
	}
	<-served
	// Output:
	// server speaks "proto v1": leaving
}
