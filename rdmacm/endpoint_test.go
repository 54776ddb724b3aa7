package rdmacm_test

import (
	"errors"
	"testing"

	"github.com/go-rdma/rdma/rdmacm"
	"github.com/go-rdma/rdma/verbs"
)

func TestDialAccept(t *testing.T) {
	ctx := testContext(t)
	l := listen(t, 4)
	recvFirst := func(e *rdmacm.Endpoint) error {
		return e.QP.PostRecv([]verbs.RecvWR{{ID: 1, SGL: []verbs.SGE{e.MR.SGE(0, 16)}}})
	}
	accepted := make(chan *rdmacm.Endpoint, 1)
	go func() {
		e, err := l.Accept(ctx, &rdmacm.EndpointOptions{BufferSize: 4096, BeforeConnect: recvFirst,
			Params: &rdmacm.ConnParams{InboundReadLimit: 1, OutboundReadLimit: 1, PrivateData: []byte("srv")}})
		if err != nil {
			t.Error(err)
		}
		accepted <- e
	}()
	client, err := rdmacm.Dial(ctx, l.Addr().String(), &rdmacm.EndpointOptions{BufferSize: 4096,
		Params: &rdmacm.ConnParams{InboundReadLimit: 1, OutboundReadLimit: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server := <-accepted
	if server == nil {
		t.FailNow()
	}
	defer server.Close()
	if d, _ := client.ConnectionData(); string(d.PrivateData) != "srv" {
		t.Errorf("client got %q from the server", d.PrivateData)
	}

	// The server's first receive was posted before accepting: send at once,
	// then write into the server's buffer and read it back.
	copy(client.Buffer.Bytes(), "0123456789abcdef")
	wrs := []verbs.SendWR{
		{ID: 1, Opcode: verbs.WRSend, SGL: []verbs.SGE{client.MR.SGE(0, 16)}},
		{ID: 2, Opcode: verbs.WRRDMAWrite, SGL: []verbs.SGE{client.MR.SGE(0, 16)}, RemoteAddr: server.MR.Addr() + 100, RKey: server.MR.RKey()},
		{ID: 3, Opcode: verbs.WRRDMARead, Flags: verbs.SendSignaled, SGL: []verbs.SGE{client.MR.SGE(200, 16)},
			RemoteAddr: server.MR.Addr() + 100, RKey: server.MR.RKey()},
	}
	if err := client.QP.PostSend(wrs); err != nil {
		t.Fatal(err)
	}
	wcs := make([]verbs.WorkCompletion, 1)
	for _, cq := range []*verbs.CQ{client.CQ, server.CQ} {
		if _, err := cq.PollWait(ctx, wcs); err != nil || wcs[0].Err() != nil {
			t.Fatalf("completion: %v %v", err, wcs[0].Err())
		}
	}
	if got := string(server.Buffer.Bytes()[:16]); got != "0123456789abcdef" {
		t.Errorf("server received %q", got)
	}
	if got := string(client.Buffer.Bytes()[200:216]); got != "0123456789abcdef" {
		t.Errorf("read back %q", got)
	}
	if err := client.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	<-server.Disconnected()
	if err := server.Close(); err != nil {
		t.Fatal(err)
	}
	if err := server.Close(); !errors.Is(err, rdmacm.ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
}
