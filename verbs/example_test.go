package verbs_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/go-rdma/rdma/verbs"
)

// List the RDMA devices, open each and print its port 1.
func Example() {
	devs, err := verbs.Devices()
	if err != nil {
		log.Fatal(err)
	}
	for _, d := range devs {
		ctx, err := verbs.Open(d.Name)
		if err != nil {
			log.Fatal(err)
		}
		p, err := ctx.QueryPort(1)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s (%s): port 1 %s, active MTU %d, link layer %s\n",
			d.Name, d.Transport, p.State, p.ActiveMTU.Bytes(), p.LinkLayer)
		ctx.Close()
	}
}

// roceV2 finds a device with a RoCE v2 GID of an IPv4 address (as rxe and
// RoCE NICs have for each IPv4 address of their netdev) and returns its name
// and that GID's entry.
func roceV2() (string, verbs.GIDEntry, error) {
	devs, err := verbs.Devices()
	if err != nil {
		return "", verbs.GIDEntry{}, err
	}
	for _, d := range devs {
		ctx, err := verbs.Open(d.Name)
		if err != nil {
			return "", verbs.GIDEntry{}, err
		}
		table, err := ctx.GIDTable()
		ctx.Close()
		if err != nil {
			return "", verbs.GIDEntry{}, err
		}
		for _, e := range table {
			if e.Type == verbs.GIDTypeRoCEv2 && e.GID.IP().To4() != nil {
				return d.Name, e, nil
			}
		}
	}
	return "", verbs.GIDEntry{}, errors.New("no RoCE v2 device with an IPv4 address")
}

// The data flow of two RC queue pairs on one device: memory, a PD and
// region, a CQ, QPs brought to RTS against each other, a receive, a send, and
// the completions. The QPs address each other by a RoCE v2 GID of the
// device (rxe0 in the test bed); on InfiniBand the path would name the
// port's LID instead.
func Example_sendReceive() {
	device, gid, err := roceV2()
	if err != nil {
		log.Fatal(err)
	}
	ctx, err := verbs.Open(device)
	if err != nil {
		log.Fatal(err)
	}
	defer ctx.Close()
	pd, err := ctx.AllocPD()
	if err != nil {
		log.Fatal(err)
	}
	defer pd.Close()
	buf, err := verbs.NewBuffer(4096, nil) // mmap'd: the device may hold it
	if err != nil {
		log.Fatal(err)
	}
	defer buf.Close()
	mr, err := pd.RegMR(buf, 0, 0, verbs.AccessLocalWrite)
	if err != nil {
		log.Fatal(err)
	}
	defer mr.Close()
	cq, err := ctx.CreateCQ(16, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer cq.Close()
	var qps [2]*verbs.QP
	for i := range qps {
		if qps[i], err = pd.CreateQP(&verbs.QPInitAttr{Type: verbs.QPTypeRC, SendCQ: cq, RecvCQ: cq,
			Cap: verbs.QPCap{MaxSendWR: 8, MaxRecvWR: 8, MaxSendSGE: 1, MaxRecvSGE: 1}}); err != nil {
			log.Fatal(err)
		}
		defer qps[i].Close()
	}
	port, err := ctx.QueryPort(gid.Port)
	if err != nil {
		log.Fatal(err)
	}
	// Exchange QP numbers (in-process here; over TCP or rdmacm between hosts).
	for i, qp := range qps {
		peer := qps[1-i]
		steps := []struct {
			attr verbs.QPAttr
			mask verbs.QPAttrMask
		}{
			{verbs.QPAttr{State: int(verbs.QPStateInit), PortNum: uint8(gid.Port)},
				verbs.QPAttrState | verbs.QPAttrPKeyIndex | verbs.QPAttrPort | verbs.QPAttrAccessFlags},
			{verbs.QPAttr{State: int(verbs.QPStateRTR), PathMTU: port.ActiveMTU, DestQPNum: peer.Num(), MaxDestRdAtomic: 1,
				MinRNRTimer: 12, AHAttr: verbs.AHAttr{IsGlobal: true, PortNum: uint8(gid.Port),
					GRH: verbs.GlobalRoute{DGID: gid.GID, SGIDIndex: uint8(gid.Index), HopLimit: 1}}},
				verbs.QPAttrState | verbs.QPAttrAV | verbs.QPAttrPathMTU | verbs.QPAttrDestQPN | verbs.QPAttrRQPSN |
					verbs.QPAttrMaxDestRdAtomic | verbs.QPAttrMinRNRTimer},
		}
		for _, s := range steps {
			if err := qp.Modify(&s.attr, s.mask); err != nil {
				log.Fatal(err)
			}
		}
	}
	for _, qp := range qps {
		rts := verbs.QPAttr{State: int(verbs.QPStateRTS), Timeout: 14, RetryCnt: 7, RNRRetry: 7, MaxRdAtomic: 1}
		if err := qp.Modify(&rts, verbs.QPAttrState|verbs.QPAttrSQPSN|verbs.QPAttrTimeout|verbs.QPAttrRetryCnt|
			verbs.QPAttrRNRRetry|verbs.QPAttrMaxQPRdAtomic); err != nil {
			log.Fatal(err)
		}
	}
	// The receive lands in the second half of the buffer.
	if err := qps[1].PostRecv([]verbs.RecvWR{{ID: 1, SGL: []verbs.SGE{mr.SGE(2048, 2048)}}}); err != nil {
		log.Fatal(err)
	}
	copy(buf.Bytes(), "hello")
	if err := qps[0].PostSend([]verbs.SendWR{{ID: 2, Opcode: verbs.WRSend, Flags: verbs.SendSignaled,
		SGL: []verbs.SGE{mr.SGE(0, 5)}}}); err != nil {
		log.Fatal(err)
	}
	wcs := make([]verbs.WorkCompletion, 2)
	for got := 0; got < 2; {
		n, err := cq.PollWait(context.Background(), wcs)
		if err != nil {
			log.Fatal(err)
		}
		for _, wc := range wcs[:n] {
			if err := wc.Err(); err != nil {
				log.Fatal(err)
			}
			fmt.Printf("%v completion for request %d, %d bytes\n", wc.Opcode, wc.WRID, wc.ByteLen)
		}
		got += n
	}
	fmt.Printf("received %q\n", buf.Bytes()[2048:2053])
	// Unordered output:
	// SEND completion for request 2, 5 bytes
	// RECV completion for request 1, 5 bytes
	// received "hello"
}

// The examples below work on a set-up like Example_sendReceive's: qp, a
// connected RC QP taking at least 64 send requests; cq, its send CQ; mr, a
// region of its PD; and raddr and rkey, the peer's memory, exchanged as the
// QP numbers are, registered with AccessRemoteWrite, AccessRemoteRead and
// AccessRemoteAtomic, which the QPs' INIT AccessFlags grant too.
var (
	qp    *verbs.QP
	cq    *verbs.CQ
	mr    *verbs.MR
	raddr uint64
	rkey  uint32
)

// Post the same RDMA write many times, one in 64 signaled, as perftest's
// write_bw does: the request is built once into a SendList, and only its
// flags change between posts. qp, cq, mr, raddr and rkey are as above; qp
// takes at least 64 send requests.
func ExampleQP_NewSendList() {
	list, err := qp.NewSendList([]verbs.SendWR{{Opcode: verbs.WRRDMAWrite, SGL: []verbs.SGE{mr.SGE(0, 64)},
		RemoteAddr: raddr, RKey: rkey}})
	if err != nil {
		log.Fatal(err)
	}
	defer list.Close()
	wcs := make([]verbs.WorkCompletion, 1)
	for i := 1; i <= 1024; i++ {
		if i%64 == 0 || i%64 == 1 { // signal the 64th, and unsignal the next
			flags := verbs.SendFlags(0)
			if i%64 == 0 {
				flags = verbs.SendSignaled
			}
			if err := list.SetFlags(0, flags); err != nil {
				log.Fatal(err)
			}
		}
		if err := list.Post(1); err != nil {
			log.Fatal(err)
		}
		if i%64 == 0 { // the completion covers the 63 before it
			if _, err := cq.BusyPoll(context.Background(), wcs); err != nil {
				log.Fatal(err)
			}
			if err := wcs[0].Err(); err != nil {
				log.Fatal(err)
			}
		}
	}
}

// Post 64 RDMA writes as 64 single-request posts (ibv_post_send each, what
// perftest's write_bw does with -l 1) with one call into C, the last one
// signaled, and wait for its completion, which covers the other 63. The
// list holds 64 copies of the request.
func ExampleSendList_PostChains() {
	wrs := make([]verbs.SendWR, 64)
	for i := range wrs {
		wrs[i] = verbs.SendWR{Opcode: verbs.WRRDMAWrite, SGL: []verbs.SGE{mr.SGE(0, 64)}, RemoteAddr: raddr, RKey: rkey}
	}
	wrs[63].Flags = verbs.SendSignaled
	list, err := qp.NewSendList(wrs)
	if err != nil {
		log.Fatal(err)
	}
	defer list.Close()
	if err := list.PostChains(list.Len(), 1); err != nil {
		log.Fatal(err)
	}
	wcs := make([]verbs.WorkCompletion, 1)
	if _, err := cq.BusyPoll(context.Background(), wcs); err != nil {
		log.Fatal(err)
	}
	if err := wcs[0].Err(); err != nil {
		log.Fatal(err)
	}
}

// Answer 1000 pings, each reply posted in the call that sees the ping's
// receive complete, as a ping-pong's responder does. recvCQ and sendCQ are
// qp's CQs; the receives for the pings are posted (a real responder reposts
// them as it goes, as in the examples above).
func ExampleSendList_PostAfter() {
	var recvCQ, sendCQ *verbs.CQ // qp's receive and send CQs
	pong, err := qp.NewSendList([]verbs.SendWR{{Opcode: verbs.WRSend, Flags: verbs.SendSignaled,
		SGL: []verbs.SGE{mr.SGE(0, 8)}}})
	if err != nil {
		log.Fatal(err)
	}
	defer pong.Close()
	ctx := context.Background()
	wcs := make([]verbs.WorkCompletion, 1)
	for range 1000 {
		if _, err := pong.PostAfter(ctx, recvCQ, wcs, 1); err != nil {
			log.Fatal(err)
		}
		if err := wcs[0].Err(); err != nil {
			log.Fatal(err)
		}
		if _, err := sendCQ.BusyPoll(ctx, wcs); err != nil {
			log.Fatal(err)
		}
		if err := wcs[0].Err(); err != nil {
			log.Fatal(err)
		}
	}
}

// Answer 1000 pings as perftest's send_lat does, with one receive for them:
// each turn reposts the receive the ping consumed and then sends the
// reply, both in the call that sees the ping arrive. The receive and the
// reply are built once, in C memory; mr's first 64 bytes take the pings.
func ExampleSendList_RepostAfter() {
	var recvCQ, sendCQ *verbs.CQ // qp's receive and send CQs
	recv, err := qp.NewRecvList([]verbs.RecvWR{{SGL: []verbs.SGE{mr.SGE(0, 64)}}})
	if err != nil {
		log.Fatal(err)
	}
	defer recv.Close()
	pong, err := qp.NewSendList([]verbs.SendWR{{Opcode: verbs.WRSend, Flags: verbs.SendSignaled,
		SGL: []verbs.SGE{mr.SGE(64, 8)}}})
	if err != nil {
		log.Fatal(err)
	}
	defer pong.Close()
	if err := recv.Post(1); err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	wcs := make([]verbs.WorkCompletion, 1)
	for range 1000 {
		if _, err := pong.RepostAfter(ctx, recvCQ, wcs, recv, 1, 1); err != nil {
			log.Fatal(err)
		}
		if err := wcs[0].Err(); err != nil {
			log.Fatal(err)
		}
		if _, err := sendCQ.BusyPoll(ctx, wcs); err != nil {
			log.Fatal(err)
		}
		if err := wcs[0].Err(); err != nil {
			log.Fatal(err)
		}
	}
}

// Read 8 bytes of the peer's memory with an RDMA read and add 1 to a
// counter beside them with an atomic fetch-and-add, then wait for both
// completions without spinning: when the CQ is empty, PollWait arms it and
// waits for its completion channel through Go's netpoller. qp, cq, mr, raddr
// and rkey are as above, with the peer's counter 8-byte aligned at raddr+8.
// siw has no atomics (QueryDevice's AtomicCap says so).
func ExampleQP_PostSend() {
	err := qp.PostSend([]verbs.SendWR{
		{ID: 1, Opcode: verbs.WRRDMARead, Flags: verbs.SendSignaled, SGL: []verbs.SGE{mr.SGE(0, 8)},
			RemoteAddr: raddr, RKey: rkey},
		{ID: 2, Opcode: verbs.WRAtomicFetchAndAdd, Flags: verbs.SendSignaled, SGL: []verbs.SGE{mr.SGE(8, 8)},
			RemoteAddr: raddr + 8, RKey: rkey, CompareAdd: 1},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	wcs := make([]verbs.WorkCompletion, 2)
	for done := 0; done < 2; {
		n, err := cq.PollWait(ctx, wcs)
		if err != nil {
			log.Fatal(err) // wraps context.DeadlineExceeded if the peer never answers
		}
		for _, wc := range wcs[:n] {
			if err := wc.Err(); err != nil {
				log.Fatalf("request %d: %v", wc.WRID, err)
			}
		}
		done += n
	}
	// The counter's value before the addition, as rxe writes it (host order).
	fmt.Printf("read %x; the counter was %d\n", mr.Bytes()[:8], binary.NativeEndian.Uint64(mr.Bytes()[8:16]))
}

// Log a device's asynchronous events (a port going down or up, a QP's fatal
// error, an SRQ's limit reached) while the context is open. They arrive
// through Go's netpoller, already acknowledged, and the channel closes with
// the context.
func ExampleContext_Events() {
	ctx, err := verbs.Open("rxe0")
	if err != nil {
		log.Fatal(err)
	}
	events, err := ctx.Events()
	if err != nil {
		log.Fatal(err)
	}
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		for ev := range events {
			switch {
			case ev.QP != nil:
				log.Printf("rxe0: %v on QP %d", ev.Type, ev.QPNum)
			case ev.Port != 0:
				log.Printf("rxe0: %v on port %d", ev.Type, ev.Port)
			default:
				log.Printf("rxe0: %v", ev.Type)
			}
		}
	}()
	// … the application's work on ctx …
	if err := ctx.Close(); err != nil {
		log.Fatal(err)
	}
	<-logged
}

// Poll a CQ back to back for as long as ctx lasts, yielding to Go's
// scheduler every 5 ms, so that the runtime never finds the poller overdue
// inside a call into C (see the package documentation). cq is a CQ of the
// application's.
func ExampleYield() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	wcs := make([]verbs.WorkCompletion, 16)
	next := time.Now().Add(5 * time.Millisecond)
	for ctx.Err() == nil {
		n, err := cq.Poll(wcs)
		if err != nil {
			log.Fatal(err)
		}
		for _, wc := range wcs[:n] {
			if err := wc.Err(); err != nil {
				log.Fatal(err)
			}
		}
		if now := time.Now(); now.After(next) {
			verbs.Yield()
			next = now.Add(5 * time.Millisecond)
		}
	}
}
