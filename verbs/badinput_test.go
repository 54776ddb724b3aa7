package verbs_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-rdma/rdma/internal/testbed"
	"github.com/go-rdma/rdma/verbs"
)

// TestBadInputTable extends TestPostBadInput, TestClosedContext and
// TestObjectLifetimes: nil and closed CQs, PDs, buffers and MRs, zero and
// oversize sizes, ranges outside a buffer, too many SGEs or requests, bad
// opcodes and QP transitions. Each gives an error, never a panic;
// want nil means any error (the provider's errno varies). It logs the table.
func TestBadInputTable(t *testing.T) {
	dev, err := verbs.Open(testbed.Device(t))
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	pd, err := dev.AllocPD()
	if err != nil {
		t.Fatal(err)
	}
	defer pd.Close()
	send := func(qp *verbs.QP, wrs ...verbs.SendWR) func() error {
		return func() error { return qp.PostSend(wrs) }
	}
	cq, err := dev.CreateCQ(8, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cq.Close()
	buf, err := verbs.NewBuffer(4096, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer buf.Close()
	mr, err := pd.RegMR(buf, 0, 0, verbs.AccessLocalWrite)
	if err != nil {
		t.Fatal(err)
	}
	defer mr.Close()
	qpCap := verbs.QPCap{MaxSendWR: 2, MaxRecvWR: 2, MaxSendSGE: 1, MaxRecvSGE: 1}
	newQP := func(typ verbs.QPType) *verbs.QP {
		qp, err := pd.CreateQP(&verbs.QPInitAttr{Type: typ, SendCQ: cq, RecvCQ: cq, Cap: qpCap})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { qp.Close() })
		return qp
	}
	rc := newQP(verbs.QPTypeRC)
	closedMR, err := pd.RegMR(buf, 0, 0, verbs.AccessLocalWrite)
	if err != nil {
		t.Fatal(err)
	}
	closedMR.Close()
	closedCQ, err := dev.CreateCQ(1, nil)
	if err != nil {
		t.Fatal(err)
	}
	closedCQ.Close()
	closedPD, err := dev.AllocPD()
	if err != nil {
		t.Fatal(err)
	}
	closedPD.Close()
	closedBuf, err := verbs.NewBuffer(4096, nil)
	if err != nil {
		t.Fatal(err)
	}
	closedBuf.Close()
	other, err := verbs.Open(testbed.Device(t))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	otherCQ, err := other.CreateCQ(8, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer otherCQ.Close()
	var nilCQ *verbs.CQ
	var nilPD *verbs.PD
	var nilBuf *verbs.Buffer
	var nilMR *verbs.MR
	var nilQP *verbs.QP
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	wcs := make([]verbs.WorkCompletion, 1)
	sge := mr.SGE(0, 8)
	var nilCtx context.Context
	list, err := rc.NewSendList([]verbs.SendWR{{Opcode: verbs.WRSend, SGL: []verbs.SGE{sge}}})
	if err != nil {
		t.Fatal(err)
	}
	defer list.Close()
	recvList, err := rc.NewRecvList([]verbs.RecvWR{{SGL: []verbs.SGE{sge}}})
	if err != nil {
		t.Fatal(err)
	}
	defer recvList.Close()
	closedRecvList, err := rc.NewRecvList([]verbs.RecvWR{{SGL: []verbs.SGE{sge}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := closedRecvList.Close(); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		api, input string
		call       func() error
		want       error
	}{
		{"CQ.Poll", "nil CQ", func() error { _, err := nilCQ.Poll(wcs); return err }, verbs.ErrClosed},
		{"CQ.Arm", "nil CQ", func() error { return nilCQ.Arm(false) }, verbs.ErrClosed},
		{"CQ.Wait", "nil CQ", func() error { return nilCQ.Wait(ctx) }, verbs.ErrClosed},
		{"CQ.PollWait", "nil CQ", func() error { _, err := nilCQ.PollWait(ctx, wcs); return err }, verbs.ErrClosed},
		{"CQ.Close", "nil CQ", nilCQ.Close, verbs.ErrClosed},
		{"CQ.Poll", "closed CQ", func() error { _, err := closedCQ.Poll(wcs); return err }, verbs.ErrClosed},
		{"CQ.Arm", "closed CQ", func() error { return closedCQ.Arm(false) }, verbs.ErrClosed},
		{"CQ.Wait", "closed CQ", func() error { return closedCQ.Wait(ctx) }, verbs.ErrClosed},
		{"CQ.PollWait", "closed CQ", func() error { _, err := closedCQ.PollWait(ctx, wcs); return err }, verbs.ErrClosed},
		{"CQ.Close", "closed CQ (double Close)", closedCQ.Close, verbs.ErrClosed},
		{"CQ.PollWait", "zero-length slice", func() error { _, err := cq.PollWait(ctx, nil); return err }, syscall.EINVAL},
		{"CQ.Resize", "0 entries", func() error { return cq.Resize(0) }, syscall.EINVAL},
		{"CQ.Resize", "1<<32 entries (more than a C int)", func() error { return cq.Resize(1 << 32) }, syscall.EINVAL},
		{"CQ.Resize", "closed CQ", func() error { return closedCQ.Resize(8) }, verbs.ErrClosed},
		{"Context.CreateCQ", "0 entries", func() error { _, err := dev.CreateCQ(0, nil); return err }, syscall.EINVAL},
		{"Context.CreateCQ", "-1 entries", func() error { _, err := dev.CreateCQ(-1, nil); return err }, syscall.EINVAL},
		{"Context.CreateCQ", "1<<30 entries", func() error { _, err := dev.CreateCQ(1<<30, nil); return err }, nil},
		{"Context.CreateCQ", "batch -1", func() error { _, err := dev.CreateCQ(1, &verbs.CQOptions{Batch: -1}); return err }, syscall.EINVAL},
		{"Context.CreateCQ", "1<<32 entries (more than a C int)", func() error { _, err := dev.CreateCQ(1<<32, nil); return err }, syscall.EINVAL},
		{"Context.CreateCQ", "vector 9999", func() error { _, err := dev.CreateCQ(1, &verbs.CQOptions{Vector: 9999}); return err }, nil},
		{"PD.Close", "nil PD", nilPD.Close, verbs.ErrClosed},
		{"PD.CreateQP", "nil PD", func() error { _, err := nilPD.CreateQP(&verbs.QPInitAttr{}); return err }, verbs.ErrClosed},
		{"PD.RegMR", "closed PD", func() error { _, err := closedPD.RegMR(buf, 0, 0, verbs.AccessLocalWrite); return err }, verbs.ErrClosed},
		{"PD.Close", "closed PD (double Close)", closedPD.Close, verbs.ErrClosed},
		{"PD.Close", "with a live MR", pd.Close, syscall.EBUSY},
		{"PD.CreateQP", "nil attr", func() error { _, err := pd.CreateQP(nil); return err }, syscall.EINVAL},
		{"PD.CreateQP", "no CQs", func() error { _, err := pd.CreateQP(&verbs.QPInitAttr{Type: verbs.QPTypeRC}); return err }, syscall.EINVAL},
		{"PD.CreateQP", "closed CQ", func() error {
			_, err := pd.CreateQP(&verbs.QPInitAttr{Type: verbs.QPTypeRC, SendCQ: closedCQ, RecvCQ: closedCQ, Cap: qpCap})
			return err
		}, verbs.ErrClosed},
		{"PD.CreateQP", "type 99", func() error {
			_, err := pd.CreateQP(&verbs.QPInitAttr{Type: 99, SendCQ: cq, RecvCQ: cq, Cap: qpCap})
			return err
		}, syscall.EINVAL},
		{"PD.CreateQP", "type 8 (raw packet: requests this package does not check)", func() error {
			_, err := pd.CreateQP(&verbs.QPInitAttr{Type: 8, SendCQ: cq, RecvCQ: cq, Cap: qpCap})
			return err
		}, syscall.EINVAL},
		{"PD.CreateQP", "1<<24 send WRs", func() error {
			_, err := pd.CreateQP(&verbs.QPInitAttr{Type: verbs.QPTypeRC, SendCQ: cq, RecvCQ: cq, Cap: verbs.QPCap{MaxSendWR: 1 << 24, MaxRecvWR: 1}})
			return err
		}, nil},
		{"PD.CreateQP", "batch MaxBatch+1", func() error {
			_, err := pd.CreateQP(&verbs.QPInitAttr{Type: verbs.QPTypeRC, SendCQ: cq, RecvCQ: cq, Cap: qpCap, Batch: verbs.MaxBatch + 1})
			return err
		}, syscall.EINVAL},
		{"PD.CreateQP", "CQ of another context of the device", func() error {
			_, err := pd.CreateQP(&verbs.QPInitAttr{Type: verbs.QPTypeRC, SendCQ: cq, RecvCQ: otherCQ, Cap: qpCap})
			return err
		}, syscall.EINVAL},
		{"PD.CreateSRQ", "limit over MaxWR", func() error {
			srq, err := pd.CreateSRQ(&verbs.SRQInitAttr{MaxWR: 16, MaxSGE: 1, Limit: 17})
			if err == nil {
				srq.Close()
			}
			return err
		}, syscall.EINVAL},
		{"PD.CreateSRQ", "batch MaxBatch+1", func() error {
			_, err := pd.CreateSRQ(&verbs.SRQInitAttr{MaxWR: 2, MaxSGE: 1, Batch: verbs.MaxBatch + 1})
			return err
		}, syscall.EINVAL},
		{"NewBuffer", "size 0", func() error { _, err := verbs.NewBuffer(0, nil); return err }, syscall.EINVAL},
		{"NewBuffer", "size -1", func() error { _, err := verbs.NewBuffer(-1, nil); return err }, syscall.EINVAL},
		{"Buffer.Close", "nil buffer", nilBuf.Close, verbs.ErrClosed},
		{"Buffer.Close", "closed buffer (double Close)", closedBuf.Close, verbs.ErrClosed},
		{"Buffer.Close", "with a live MR", buf.Close, syscall.EBUSY},
		{"PD.RegMR", "nil buffer", func() error { _, err := pd.RegMR(nilBuf, 0, 0, verbs.AccessLocalWrite); return err }, verbs.ErrClosed},
		{"PD.RegMR", "closed buffer", func() error { _, err := pd.RegMR(closedBuf, 0, 0, verbs.AccessLocalWrite); return err }, verbs.ErrClosed},
		{"PD.RegMR", "offset -1", func() error { _, err := pd.RegMR(buf, -1, 8, verbs.AccessLocalWrite); return err }, syscall.EINVAL},
		{"PD.RegMR", "offset past the end", func() error { _, err := pd.RegMR(buf, 4096, 0, verbs.AccessLocalWrite); return err }, syscall.EINVAL},
		{"PD.RegMR", "length past the end", func() error { _, err := pd.RegMR(buf, 8, 4096, verbs.AccessLocalWrite); return err }, syscall.EINVAL},
		{"PD.RegMR", "offset 1, length MaxInt (overflows)", func() error { _, err := pd.RegMR(buf, 1, math.MaxInt, verbs.AccessLocalWrite); return err }, syscall.EINVAL},
		{"PD.RegMR", "remote write without local write", func() error { _, err := pd.RegMR(buf, 0, 0, verbs.AccessRemoteWrite); return err }, syscall.EINVAL},
		{"MR.Close", "nil MR", nilMR.Close, verbs.ErrClosed},
		{"MR.Rereg", "closed MR, zero-based", func() error { return closedMR.Rereg(verbs.AccessZeroBased) }, verbs.ErrClosed},
		{"MR.Rereg", "zero MR, zero-based", func() error { return new(verbs.MR).Rereg(verbs.AccessZeroBased) }, verbs.ErrClosed},
		{"QP.PostSend", "nil slice", send(rc), syscall.EINVAL},
		{"QP.PostSend", "2 SGEs, QP takes 1", send(rc, verbs.SendWR{Opcode: verbs.WRSend, SGL: []verbs.SGE{sge, sge}}), syscall.EINVAL},
		{"QP.PostSend", "more WRs than the send queue (QP in RESET)", send(rc, make([]verbs.SendWR, 64)...), nil},
		{"QP.PostSend", "opcode 99", send(rc, verbs.SendWR{Opcode: 99, SGL: []verbs.SGE{sge}}), syscall.EINVAL},
		{"PD.CreateQP", "zero-value SRQ", func() error {
			_, err := pd.CreateQP(&verbs.QPInitAttr{Type: verbs.QPTypeRC, SendCQ: cq, RecvCQ: cq, SRQ: new(verbs.SRQ), Cap: qpCap})
			return err
		}, verbs.ErrClosed},
		{"PD.CreateQP", "zero-value CQ", func() error {
			_, err := pd.CreateQP(&verbs.QPInitAttr{Type: verbs.QPTypeRC, SendCQ: cq, RecvCQ: new(verbs.CQ), Cap: qpCap})
			return err
		}, verbs.ErrClosed},
		{"PD.CreateAHFromWC", "closed PD", func() error { _, err := closedPD.CreateAHFromWC(1, nil, nil); return err }, verbs.ErrClosed},
		{"Context.QueryGID", "index 1<<32 (more than a C int)", func() error { _, err := dev.QueryGID(1, 1<<32); return err }, syscall.EINVAL},
		{"Context.QueryPKey", "index 1<<16", func() error { _, err := dev.QueryPKey(1, 1<<16); return err }, syscall.EINVAL},
		{"NewBuffer", "huge pages, 4 KiB (not a whole huge page)", func() error { _, err := verbs.NewBuffer(4096, &verbs.BufferOptions{HugePages: true}); return err }, syscall.EINVAL},
		{"QP.PostRecv", "nil slice", func() error { return rc.PostRecv(nil) }, syscall.EINVAL},
		{"QP.PostRecv", "2 SGEs, QP takes 1", func() error { return rc.PostRecv([]verbs.RecvWR{{SGL: []verbs.SGE{sge, sge}}}) }, syscall.EINVAL},
		{"QP.PostRecv", "more WRs than the receive queue", func() error { return rc.PostRecv(make([]verbs.RecvWR, 64)) }, nil},
		{"QP.PostRecv", "an entry across its region's end", func() error {
			return rc.PostRecv([]verbs.RecvWR{{SGL: []verbs.SGE{mr.SGE(mr.Len()-4, 8)}}})
		}, syscall.EINVAL},
		{"QP.PostRecv", "an entry of a closed region", func() error { return rc.PostRecv([]verbs.RecvWR{{SGL: []verbs.SGE{closedMR.SGE(0, 8)}}}) }, syscall.EINVAL},
		{"QP.PostRecv", "an lkey of no region", func() error {
			return rc.PostRecv([]verbs.RecvWR{{SGL: []verbs.SGE{{Addr: mr.Addr(), Length: 8, LKey: mr.LKey() ^ 0xffff00}}}})
		}, syscall.EINVAL},
		{"QP.PostSend", "an entry across its region's end", send(rc, verbs.SendWR{Opcode: verbs.WRSend, SGL: []verbs.SGE{mr.SGE(mr.Len()-4, 8)}}), syscall.EINVAL},
		{"QP.Modify", "nil attr", func() error { return rc.Modify(nil, verbs.QPAttrState) }, syscall.EINVAL},
		{"QP.State", "nil QP", func() error { _, err := nilQP.State(); return err }, verbs.ErrClosed},
		{"QP.OutOfReset", "nil QP", func() error { _, err := nilQP.OutOfReset(); return err }, verbs.ErrClosed},
		{"QP.Modify", "RESET to RTS", func() error { return rc.Modify(&verbs.QPAttr{State: int(verbs.QPStateRTS)}, verbs.QPAttrState) }, nil},
		{"QP.Modify", "path MTU 0", func() error { return rc.Modify(&verbs.QPAttr{PathMTU: 0}, verbs.QPAttrPathMTU) }, syscall.EINVAL},
		{"QP.Modify", "path MTU 6", func() error { return rc.Modify(&verbs.QPAttr{PathMTU: 6}, verbs.QPAttrPathMTU) }, syscall.EINVAL},
		{"QP.Modify", "state 7", func() error { return rc.Modify(&verbs.QPAttr{State: 7}, verbs.QPAttrState) }, syscall.EINVAL},
		{"QP.Modify", "timeout 32", func() error { return rc.Modify(&verbs.QPAttr{Timeout: 32}, verbs.QPAttrTimeout) }, syscall.EINVAL},
		{"QP.Modify", "retry count 8", func() error { return rc.Modify(&verbs.QPAttr{RetryCnt: 8}, verbs.QPAttrRetryCnt) }, syscall.EINVAL},
		{"QP.Modify", "RNR retry count 8", func() error { return rc.Modify(&verbs.QPAttr{RNRRetry: 8}, verbs.QPAttrRNRRetry) }, syscall.EINVAL},
		{"QP.Modify", "minimal RNR timer 32", func() error { return rc.Modify(&verbs.QPAttr{MinRNRTimer: 32}, verbs.QPAttrMinRNRTimer) }, syscall.EINVAL},
		{"QP.Modify", "path migration state 3", func() error { return rc.Modify(&verbs.QPAttr{PathMigState: 3}, verbs.QPAttrPathMigState) }, syscall.EINVAL},
		{"CQ.BusyPoll", "nil context", func() error { _, err := cq.BusyPoll(nilCtx, wcs); return err }, syscall.EINVAL},
		{"CQ.Wait", "nil context", func() error { return cq.Wait(nilCtx) }, syscall.EINVAL},
		{"CQ.PollWait", "nil context", func() error { _, err := cq.PollWait(nilCtx, wcs); return err }, syscall.EINVAL},
		{"SendList.PostAfter", "nil context", func() error { _, err := list.PostAfter(nilCtx, cq, wcs, 1); return err }, syscall.EINVAL},
		// A closed object's ErrClosed comes first, also with a nil context.
		{"CQ.BusyPoll", "closed CQ, nil context", func() error { _, err := closedCQ.BusyPoll(nilCtx, wcs); return err }, verbs.ErrClosed},
		{"CQ.Wait", "closed CQ, nil context", func() error { return closedCQ.Wait(nilCtx) }, verbs.ErrClosed},
		{"CQ.PollWait", "closed CQ, nil context", func() error { _, err := closedCQ.PollWait(nilCtx, wcs); return err }, verbs.ErrClosed},
		{"SendList.PostAfter", "closed CQ, nil context", func() error { _, err := list.PostAfter(nilCtx, closedCQ, wcs, 1); return err }, verbs.ErrClosed},
		{"SendList.RepostAfter", "nil context", func() error { _, err := list.RepostAfter(nilCtx, cq, wcs, recvList, 1, 1); return err }, syscall.EINVAL},
		{"SendList.RepostAfter", "closed CQ, nil context", func() error { _, err := list.RepostAfter(nilCtx, closedCQ, wcs, recvList, 1, 1); return err }, verbs.ErrClosed},
		{"SendList.PostAfter", "closed CQ, nil context, 0 requests", func() error { _, err := list.PostAfter(nilCtx, closedCQ, wcs, 0); return err }, verbs.ErrClosed},
		{"SendList.PostAfter", "closed CQ, 0 requests", func() error { _, err := list.PostAfter(ctx, closedCQ, wcs, 0); return err }, verbs.ErrClosed},
		{"SendList.RepostAfter", "closed CQ, 0 receives", func() error { _, err := list.RepostAfter(ctx, closedCQ, wcs, recvList, 0, 1); return err }, verbs.ErrClosed},
		{"SendList.RepostAfter", "closed receive list, 2 receives of 1", func() error { _, err := list.RepostAfter(ctx, cq, wcs, closedRecvList, 2, 1); return err }, verbs.ErrClosed},
	}
	type row = struct {
		api, input string
		call       func() error
		want       error
	}
	// iWARP has no UC or UD QPs (EOPNOTSUPP): then their rows are left out.
	if uc, err := pd.CreateQP(&verbs.QPInitAttr{Type: verbs.QPTypeUC, SendCQ: cq, RecvCQ: cq, Cap: qpCap}); err == nil {
		defer uc.Close()
		tests = append(tests,
			row{"QP.PostSend", "an RDMA read on UC", send(uc, verbs.SendWR{Opcode: verbs.WRRDMARead, SGL: []verbs.SGE{sge}, RemoteAddr: mr.Addr(), RKey: mr.RKey()}), syscall.EINVAL},
			row{"QP.PostSend", "an atomic on UC", send(uc, verbs.SendWR{Opcode: verbs.WRAtomicFetchAndAdd, SGL: []verbs.SGE{sge}, RemoteAddr: mr.Addr(), RKey: mr.RKey()}), syscall.EINVAL})
	} else if !errors.Is(err, syscall.EOPNOTSUPP) {
		t.Fatal(err)
	}
	if ud, err := pd.CreateQP(&verbs.QPInitAttr{Type: verbs.QPTypeUD, SendCQ: cq, RecvCQ: cq, Cap: qpCap}); err == nil {
		defer ud.Close()
		otherPD, err := dev.AllocPD()
		if err != nil {
			t.Fatal(err)
		}
		defer otherPD.Close()
		gid := testGID(t, dev)
		ah, err := otherPD.CreateAH(&verbs.AHAttr{IsGlobal: true, PortNum: 1, GRH: verbs.GlobalRoute{DGID: gid.GID, SGIDIndex: uint8(gid.Index), HopLimit: 64}})
		if err != nil {
			t.Fatal(err)
		}
		defer ah.Close()
		mw, err := pd.AllocMW(verbs.MWType1)
		if err != nil {
			t.Fatal(err)
		}
		defer mw.Close()
		mwMR, err := pd.RegMR(buf, 0, 0, verbs.AccessLocalWrite|verbs.AccessMWBind)
		if err != nil {
			t.Fatal(err)
		}
		defer mwMR.Close()
		tests = append(tests,
			row{"QP.PostSend", "UD without an AH", send(ud, verbs.SendWR{Opcode: verbs.WRSend, SGL: []verbs.SGE{sge}}), syscall.EINVAL},
			row{"QP.PostSend", "UD through an AH of another PD", send(ud, verbs.SendWR{Opcode: verbs.WRSend, SGL: []verbs.SGE{sge}, AH: ah, RemoteQPN: 1, RemoteQKey: 1}), syscall.EINVAL},
			row{"QP.BindMW", "a UD QP", func() error {
				return ud.BindMW(mw, 1, 0, verbs.MWBind{MR: mwMR, Length: 8, Access: verbs.AccessRemoteRead})
			}, syscall.EINVAL},
			row{"QP.BindMW", "unknown flags", func() error {
				// The QP, in RESET, would be refused by the kernel too.
				err := rc.BindMW(mw, 1, 1<<7, verbs.MWBind{MR: mwMR, Addr: mwMR.Addr(), Length: 8, Access: verbs.AccessRemoteRead})
				if !strings.Contains(fmt.Sprint(err), "unknown flags") {
					return fmt.Errorf("not refused for its flags: %v", err)
				}
				return err
			}, syscall.EINVAL})
	} else if !errors.Is(err, syscall.EOPNOTSUPP) {
		t.Fatal(err)
	}
	// A closed region gives zero values: no address or memory that may be
	// unmapped by now.
	if closedMR.Bytes() != nil || closedMR.Addr() != 0 || closedMR.Len() != 0 || closedMR.LKey() != 0 || closedMR.RKey() != 0 || closedMR.SGE(0, 8) != (verbs.SGE{Length: 8}) {
		t.Errorf("closed MR: Bytes %p, Addr %#x, Len %d, LKey %#x, RKey %#x, SGE %+v", closedMR.Bytes(), closedMR.Addr(), closedMR.Len(),
			closedMR.LKey(), closedMR.RKey(), closedMR.SGE(0, 8))
	}
	if got := mr.SGE(0, 1<<32+8); got.Length != math.MaxUint32 {
		t.Errorf("SGE of 2^32+8 bytes has length %d, want the largest", got.Length)
	}
	for _, tc := range tests {
		err := tc.call()
		var pe *verbs.PostError
		var oe *verbs.OpError
		switch {
		case err == nil:
			t.Errorf("%s with %s: no error", tc.api, tc.input)
		case tc.want != nil && !errors.Is(err, tc.want):
			t.Errorf("%s with %s: %v, want %v", tc.api, tc.input, err, tc.want)
		case !errors.As(err, &pe) && !errors.As(err, &oe):
			t.Errorf("%s with %s: %v (%T) is neither a *PostError nor an *OpError", tc.api, tc.input, err, err)
		default:
			t.Logf("| %s | %s | %v |", tc.api, tc.input, err)
		}
	}
	// Accessors of nil and closed objects give zero values.
	if nilMR.Addr() != 0 || nilMR.Len() != 0 || nilMR.Bytes() != nil || nilMR.LKey() != 0 || nilMR.RKey() != 0 {
		t.Error("nil MR accessors are not zero")
	}
	if closedBuf.Bytes() != nil || closedBuf.Len() != 0 || nilBuf.Bytes() != nil {
		t.Error("closed or nil Buffer has bytes")
	}
	if n, err := cq.Poll(nil); n != 0 || err != nil {
		t.Errorf("Poll(nil) = %d, %v; want 0, nil", n, err)
	}
}
