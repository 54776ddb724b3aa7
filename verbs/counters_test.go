package verbs_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-rdma/rdma/verbs"
)

// rdmaStatistic returns the counters of dev's port 1 as the rdma tool
// (iproute2) reads them over netlink: `rdma -j statistic show link dev/1`.
func rdmaStatistic(t *testing.T, dev string) map[string]uint64 {
	t.Helper()
	out, err := exec.Command("rdma", "-j", "statistic", "show", "link", dev+"/1").Output()
	if err != nil {
		t.Fatalf("rdma statistic show link %s/1 (package iproute2): %v", dev, err)
	}
	var links []map[string]any
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
		t.Fatalf("rdma statistic: %v, %d links in %s", err, len(links), out)
	}
	m := map[string]uint64{}
	for k, v := range links[0] {
		if n, ok := v.(float64); ok && k != "port" {
			m[k] = uint64(n)
		}
	}
	return m
}

// TestPortCounters: the port counters are the ones the rdma tool shows
// (each between two of our readings around the tool's), and rxe's sent
// packets move by at least the messages sent over a connection of the
// device. siw keeps no counters (EOPNOTSUPP: a transport limitation; the
// rdma tool fails there too). A port the device does not have gives EINVAL.
func TestPortCounters(t *testing.T) {
	ctx, a, b, recv, send := sendPair(t)
	for _, port := range []int{0, 2, 256} {
		if _, err := ctx.PortCounters(port); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("PortCounters(%d): %v, want EINVAL", port, err)
		}
	}
	before, err := ctx.PortCounters(1)
	if isIWARP(t, ctx) {
		if !errors.Is(err, syscall.EOPNOTSUPP) {
			t.Fatalf("siw: PortCounters(1) = %v, %v; want EOPNOTSUPP", before, err)
		}
		t.Logf("transport limitation: %v", err)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	tool := rdmaStatistic(t, ctx.Name())
	after, err := ctx.PortCounters(1)
	if err != nil {
		t.Fatal(err)
	}
	if len(tool) == 0 || len(tool) != len(before) {
		t.Errorf("%d counters, the rdma tool shows %d: %v / %v", len(before), len(tool), before, tool)
	}
	for name, v := range tool {
		if lo, ok := before[name]; !ok || v < lo || v > after[name] {
			t.Errorf("counter %s: the rdma tool shows %d between our %d and %d", name, v, lo, after[name])
		}
	}

	const n = 50
	before = after
	for range n {
		if err := b.qp.PostRecv(recv); err != nil {
			t.Fatal(err)
		}
		if err := a.qp.PostSend(send); err != nil {
			t.Fatal(err)
		}
		waitOne(t, a.cq)
		waitOne(t, b.cq)
	}
	// The kernel keeps a reading of the driver's counters for lifespan ms.
	life, err := os.ReadFile("/sys/class/infiniband/" + ctx.Name() + "/ports/1/hw_counters/lifespan")
	if err != nil {
		t.Fatal(err)
	}
	lifespan, err := strconv.Atoi(strings.TrimSpace(string(life)))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Duration(lifespan+1) * time.Millisecond)
	if after, err = ctx.PortCounters(1); err != nil {
		t.Fatal(err)
	}
	var moved []string
	for name, v := range after {
		if d := v - before[name]; d != 0 {
			moved = append(moved, fmt.Sprintf("%s +%d", name, d))
		}
	}
	t.Logf("after %d messages: %v", n, moved)
	// Both QPs are on this device: rxe counts the packets it sends (each
	// message and its ACK), not those it loops back to itself as received.
	if d := after["sent_pkts"] - before["sent_pkts"]; d < n {
		t.Errorf("sent_pkts moved by %d for %d messages", d, n)
	}
	closed, err := verbs.Open(ctx.Name())
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	if _, err := closed.PortCounters(1); !errors.Is(err, verbs.ErrClosed) {
		t.Errorf("PortCounters of a closed context: %v, want ErrClosed", err)
	}
}
