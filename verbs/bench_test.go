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
	benchBatch(b, func(qp *verbs.QP, wrs []verbs.SendWR) func() error {
		return func() error { return qp.PostSend(wrs) }
	})
}

// BenchmarkSendListPost is BenchmarkPostBatch's chain built once into a
// SendList and posted with its Post.
func BenchmarkSendListPost(b *testing.B) {
	benchBatch(b, func(qp *verbs.QP, wrs []verbs.SendWR) func() error {
		list, err := qp.NewSendList(wrs)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { list.Close() })
		return func() error { return list.Post(len(wrs)) }
	})
}

// benchBatch runs the batch benchmarks: prepare returns the post of the
// chain wrs on qp.
func benchBatch(b *testing.B, prepare func(qp *verbs.QP, wrs []verbs.SendWR) func() error) {
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
	post := prepare(client.QP, wrs)
	wcs := make([]verbs.WorkCompletion, 4)
	b.ReportAllocs()
	for b.Loop() {
		if err := post(); err != nil {
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

// BenchmarkPostRecv measures QP.PostRecv of one receive: the binding's
// checks of the request and its region, its lock and its call into C
// around ibv_post_recv, which on rxe and siw writes the request into the
// queue in user space.
func BenchmarkPostRecv(b *testing.B) {
	benchRecv(b, func(qp *verbs.QP, wrs []verbs.RecvWR) (func() error, func()) {
		return func() error { return qp.PostRecv(wrs) }, func() {}
	})
}

// BenchmarkRecvListPost is BenchmarkPostRecv's receive built once into a
// RecvList and posted with its Post.
func BenchmarkRecvListPost(b *testing.B) {
	benchRecv(b, func(qp *verbs.QP, wrs []verbs.RecvWR) (func() error, func()) {
		list, err := qp.NewRecvList(wrs)
		if err != nil {
			b.Fatal(err)
		}
		return func() error { return list.Post(1) }, func() { list.Close() }
	})
}

// benchRecv runs the receive benchmarks on a QP in INIT, which takes
// receives and receives nothing: prepare returns the post of one receive,
// wrs, and what closes what it made. When the receive queue is full, the
// QP is replaced, the timer stopped.
func benchRecv(b *testing.B, prepare func(qp *verbs.QP, wrs []verbs.RecvWR) (post func() error, done func())) {
	pd := benchPD(b)
	buf, err := verbs.NewBuffer(4096, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { buf.Close() })
	mr, err := pd.RegMR(buf, 0, 0, verbs.AccessLocalWrite)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { mr.Close() })
	attr := benchQPAttr(b, pd)
	attr.Cap.MaxRecvWR = 1024
	wrs := []verbs.RecvWR{{SGL: []verbs.SGE{mr.SGE(0, 64)}}}
	var qp *verbs.QP
	var post func() error
	var done func()
	start := func() {
		if qp, err = pd.CreateQP(attr); err != nil {
			b.Fatal(err)
		}
		init := verbs.QPAttr{State: int(verbs.QPStateInit), PortNum: 1, AccessFlags: int(verbs.AccessLocalWrite)}
		if err := qp.Modify(&init, verbs.QPAttrState|verbs.QPAttrPKeyIndex|verbs.QPAttrPort|verbs.QPAttrAccessFlags); err != nil {
			b.Fatal(err)
		}
		post, done = prepare(qp, wrs)
	}
	stop := func() {
		done()
		if err := qp.Close(); err != nil {
			b.Fatal(err)
		}
	}
	start()
	b.Cleanup(stop)
	room := int(qp.Cap().MaxRecvWR)
	b.ReportAllocs()
	for b.Loop() {
		if room == 0 {
			b.StopTimer()
			stop()
			start()
			room = int(qp.Cap().MaxRecvWR)
			b.StartTimer()
		}
		if err := post(); err != nil {
			b.Fatal(err)
		}
		room--
	}
}

// benchPD opens the device under test and allocates a PD, closed when b ends.
func benchPD(b *testing.B) *verbs.PD {
	b.Helper()
	ctx, err := verbs.Open(testbed.Device(b))
	if err != nil {
		b.Fatal(err)
	}
	pd, err := ctx.AllocPD()
	if err != nil {
		ctx.Close()
		b.Fatal(err)
	}
	b.Cleanup(func() {
		pd.Close()
		ctx.Close()
	})
	return pd
}

// benchQPAttr describes the smallest RC QP, as cmtime creates, on a new
// 2-entry CQ of pd's context, closed when b ends.
func benchQPAttr(b *testing.B, pd *verbs.PD) *verbs.QPInitAttr {
	b.Helper()
	cq, err := pd.Context().CreateCQ(2, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cq.Close() })
	return &verbs.QPInitAttr{Type: verbs.QPTypeRC, SendCQ: cq, RecvCQ: cq,
		Cap: verbs.QPCap{MaxSendWR: 1, MaxRecvWR: 1, MaxSendSGE: 1, MaxRecvSGE: 1}}
}

// benchCreateClose measures creating an object and closing it again.
func benchCreateClose[T interface{ Close() error }](b *testing.B, create func() (T, error)) {
	b.ReportAllocs()
	for b.Loop() {
		o, err := create()
		if err != nil {
			b.Fatal(err)
		}
		if err := o.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateCQ measures creating and destroying a 2-entry CQ: the
// binding's cost around ibv_create_cq and ibv_destroy_cq.
func BenchmarkCreateCQ(b *testing.B) {
	ctx := benchPD(b).Context()
	benchCreateClose(b, func() (*verbs.CQ, error) { return ctx.CreateCQ(2, nil) })
}

// BenchmarkCreateQP measures creating and destroying the smallest RC QP:
// the binding's cost around ibv_create_qp and ibv_destroy_qp.
func BenchmarkCreateQP(b *testing.B) {
	pd := benchPD(b)
	attr := benchQPAttr(b, pd)
	benchCreateClose(b, func() (*verbs.QP, error) { return pd.CreateQP(attr) })
}

// BenchmarkModifyQP measures moving a QP from RESET to INIT and back: two
// ibv_modify_qp calls per operation.
func BenchmarkModifyQP(b *testing.B) {
	pd := benchPD(b)
	qp, err := pd.CreateQP(benchQPAttr(b, pd))
	if err != nil {
		b.Fatal(err)
	}
	defer qp.Close()
	toInit := &verbs.QPAttr{State: int(verbs.QPStateInit), PortNum: 1}
	toReset := &verbs.QPAttr{State: int(verbs.QPStateReset)}
	initMask := verbs.QPAttrState | verbs.QPAttrPKeyIndex | verbs.QPAttrPort | verbs.QPAttrAccessFlags
	b.ReportAllocs()
	for b.Loop() {
		if err := qp.Modify(toInit, initMask); err != nil {
			b.Fatal(err)
		}
		if err := qp.Modify(toReset, verbs.QPAttrState); err != nil {
			b.Fatal(err)
		}
	}
}
