package verbs_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/go-rdma/rdma/internal/testbed"
	"github.com/go-rdma/rdma/rdmacm"
	"github.com/go-rdma/rdma/verbs"
)

// benchPair connects two endpoints over the device under test's address
// (loopback through the device), closed when b ends.
func benchPair(b *testing.B) (client, server *rdmacm.Endpoint) {
	b.Helper()
	addr := testbed.Addr(b)
	testbed.Device(b)
	l, err := rdmacm.Listen(net.JoinHostPort(addr, "0"), 1)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	accepted := make(chan error, 1)
	go func() {
		var err error
		server, err = l.Accept(ctx, nil)
		accepted <- err
	}()
	client, err = rdmacm.Dial(ctx, l.Addr().String(), nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := <-accepted; err != nil {
		client.Close()
		b.Fatal(err)
	}
	b.Cleanup(func() {
		client.Close()
		server.Close()
	})
	return client, server
}

// BenchmarkPollEmpty measures one Poll of an empty CQ: the binding's cost
// around ibv_poll_cq.
func BenchmarkPollEmpty(b *testing.B) {
	ctx, err := verbs.Open(testbed.Device(b))
	if err != nil {
		b.Fatal(err)
	}
	defer ctx.Close()
	cq, err := ctx.CreateCQ(64, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer cq.Close()
	wcs := make([]verbs.WorkCompletion, 16)
	b.ReportAllocs()
	for b.Loop() {
		if n, err := cq.Poll(wcs); n != 0 || err != nil {
			b.Fatalf("empty CQ polled %d, %v", n, err)
		}
	}
}

// BenchmarkPostBatch measures posting a chain of 16 unsignaled 8-byte RDMA
// writes with a signaled last one, in one PostSend, and polling its
// completion: per operation, one batch.
func BenchmarkPostBatch(b *testing.B) {
	client, server := benchPair(b)
	const batch = 16
	wrs := make([]verbs.SendWR, batch)
	sgl := make([]verbs.SGE, batch)
	for i := range wrs {
		sgl[i] = client.MR.SGE(i*8, 8)
		wrs[i] = verbs.SendWR{ID: uint64(i), Opcode: verbs.WRRDMAWrite, SGL: sgl[i : i+1],
			RemoteAddr: server.MR.Addr() + uint64(i*8), RKey: server.MR.RKey()}
	}
	wrs[batch-1].Flags = verbs.SendSignaled
	wcs := make([]verbs.WorkCompletion, 4)
	b.ReportAllocs()
	for b.Loop() {
		if err := client.QP.PostSend(wrs); err != nil {
			b.Fatal(err)
		}
		for n := 0; n == 0; {
			var err error
			if n, err = client.CQ.Poll(wcs); err != nil {
				b.Fatal(err)
			}
			if n > 0 {
				if err := wcs[0].Err(); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}
