package rdmacm_test

import (
	"context"
	"log"
	"time"

	"github.com/go-rdma/rdma/rdmacm"
	"github.com/go-rdma/rdma/verbs"
)

// udQP is what a UD example needs on the connector's device: a UD QP with
// its CQ, and a registered buffer. close releases them.
type udQP struct {
	pd  *verbs.PD
	cq  *verbs.CQ
	qp  *verbs.QP
	mr  *verbs.MR
	buf *verbs.Buffer
}

func newUDQP(device string) (*udQP, func(), error) {
	dev, err := verbs.Open(device)
	if err != nil {
		return nil, nil, err
	}
	u := &udQP{}
	closers := []interface{ Close() error }{dev}
	release := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i].Close()
		}
	}
	err = func() (err error) {
		if u.pd, err = dev.AllocPD(); err != nil {
			return err
		}
		closers = append(closers, u.pd)
		if u.cq, err = dev.CreateCQ(16, nil); err != nil {
			return err
		}
		closers = append(closers, u.cq)
		if u.qp, err = u.pd.CreateQP(&verbs.QPInitAttr{Type: verbs.QPTypeUD, SendCQ: u.cq, RecvCQ: u.cq,
			Cap: verbs.QPCap{MaxSendWR: 8, MaxRecvWR: 8, MaxSendSGE: 1, MaxRecvSGE: 1}}); err != nil {
			return err
		}
		closers = append(closers, u.qp)
		if u.buf, err = verbs.NewBuffer(4096, nil); err != nil {
			return err
		}
		closers = append(closers, u.buf)
		if u.mr, err = u.pd.RegMR(u.buf, 0, 0, verbs.AccessLocalWrite); err != nil {
			return err
		}
		closers = append(closers, u.mr)
		return nil
	}()
	if err != nil {
		release()
		return nil, nil, err
	}
	return u, release, nil
}

// send sends msg to peer through an address handle and waits for the send.
func (u *udQP) send(ctx context.Context, peer rdmacm.UDPeer, msg string) error {
	ah, err := u.pd.CreateAH(&peer.AHAttr)
	if err != nil {
		return err
	}
	defer ah.Close()
	copy(u.buf.Bytes(), msg)
	if err := u.qp.PostSend([]verbs.SendWR{{Opcode: verbs.WRSend, Flags: verbs.SendSignaled,
		SGL: []verbs.SGE{u.mr.SGE(0, len(msg))}, AH: ah, RemoteQPN: peer.QPNum, RemoteQKey: peer.QKey}}); err != nil {
		return err
	}
	wcs := make([]verbs.WorkCompletion, 1)
	if _, err := u.cq.PollWait(ctx, wcs); err != nil {
		return err
	}
	return wcs[0].Err()
}

// A UD connector looks up the QP of a ListenUD peer (udaddy's server, say)
// and sends it a datagram.
func ExampleNewUDConnector() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := rdmacm.NewUDConnector()
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.Resolve(ctx, "192.0.2.1:7174"); err != nil {
		log.Fatal(err)
	}
	u, release, err := newUDQP(c.DeviceName())
	if err != nil {
		log.Fatal(err)
	}
	defer release()
	if err := c.Connect(ctx, "", u.qp, nil); err != nil {
		log.Fatal(err)
	}
	peer, err := c.UDPeer()
	if err != nil {
		log.Fatal(err)
	}
	if err := u.send(ctx, peer, "hello over UD"); err != nil {
		log.Fatal(err)
	}
}

// A UD connector bound to a device's address joins a multicast group and
// sends the group a datagram; the QP receives the group's datagrams until
// LeaveMulticast or Close.
func ExampleConnector_JoinMulticast() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := rdmacm.NewUDConnector()
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.Bind("192.0.2.1:0"); err != nil {
		log.Fatal(err)
	}
	u, release, err := newUDQP(c.DeviceName())
	if err != nil {
		log.Fatal(err)
	}
	defer release()
	group, err := c.JoinMulticast(ctx, "239.1.2.3", u.qp)
	if err != nil {
		log.Fatal(err)
	}
	if err := u.send(ctx, group, "hello, group"); err != nil {
		log.Fatal(err)
	}
}
