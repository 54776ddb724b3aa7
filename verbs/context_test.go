package verbs_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/go-rdma/rdma/internal/testbed"
	"github.com/go-rdma/rdma/verbs"
)

// devinfo is `ibv_devinfo -v -d DEV` parsed: device-level fields, port 1
// fields, and port 1's GID lines ("addr, type").
type devinfo struct {
	dev, port map[string]string
	gids      []string
}

var gidLine = regexp.MustCompile(`^GID\[\s*\d+\]:$`)

func ibvDevinfo(t *testing.T, dev string) devinfo {
	t.Helper()
	out, err := exec.Command("ibv_devinfo", "-v", "-d", dev).CombinedOutput()
	if err != nil {
		t.Fatalf("ibv_devinfo -v -d %s (package ibverbs-utils): %v\n%s", dev, err, out)
	}
	info := devinfo{dev: map[string]string{}, port: map[string]string{}}
	cur := info.dev
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		key, val, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		switch {
		case key == "port":
			if val != "1" {
				cur = nil
				continue
			}
			cur = info.port
		case gidLine.MatchString(key + ":"):
			if cur != nil {
				info.gids = append(info.gids, val)
			}
		case cur != nil:
			if _, dup := cur[key]; !dup {
				cur[key] = val
			}
		}
	}
	return info
}

// TestMain runs the tests, and the examples where there is a device
// (testbed.Main): Example_sendReceive checks its output. With peerEnv set,
// the binary is TestPeerInvalidatedWindow's peer process instead, with
// resizeEnv TestResizeLosesQueue's resizing one.
func TestMain(m *testing.M) {
	if to := os.Getenv(peerEnv); to != "" {
		if err := sendWithInvPeer(to); err != nil {
			fmt.Fprintln(os.Stderr, "send with invalidate peer:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if device := os.Getenv(resizeEnv); device != "" {
		if err := resizeLosesQueue(device); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(testbed.Main(m))
}

func openTestDevice(t *testing.T) *verbs.Context {
	t.Helper()
	ctx, err := verbs.Open(testbed.Device(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctx.Close() })
	return ctx
}

func guid(g uint64) string {
	return fmt.Sprintf("%04x:%04x:%04x:%04x", g>>48, g>>32&0xffff, g>>16&0xffff, g&0xffff)
}

func compare(t *testing.T, what string, want map[string]string, got map[string]string) {
	t.Helper()
	keys := make([]string, 0, len(got))
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		w, ok := want[k]
		if !ok {
			t.Errorf("%s: ibv_devinfo printed no %q", what, k)
			continue
		}
		if w != got[k] {
			t.Errorf("%s %s: ibv_devinfo says %q, verbs says %q", what, k, w, got[k])
		}
	}
}

func TestQueryDeviceMatchesIbvDevinfo(t *testing.T) {
	ctx := openTestDevice(t)
	a, err := ctx.QueryDevice()
	if err != nil {
		t.Fatal(err)
	}
	info := ibvDevinfo(t, ctx.Name())
	devs, err := verbs.Devices()
	if err != nil {
		t.Fatal(err)
	}
	var transport verbs.Transport = verbs.TransportUnknown
	for _, d := range devs {
		if d.Name == ctx.Name() {
			transport = d.Transport
			if d.GUID != a.NodeGUID {
				t.Errorf("Devices() GUID %s, QueryDevice node GUID %s", guid(d.GUID), guid(a.NodeGUID))
			}
		}
	}
	compare(t, ctx.Name(), info.dev, map[string]string{
		"transport":           fmt.Sprintf("%s (%d)", transport, int(transport)),
		"fw_ver":              a.FirmwareVersion,
		"node_guid":           guid(a.NodeGUID),
		"sys_image_guid":      guid(a.SysImageGUID),
		"vendor_id":           fmt.Sprintf("0x%x", a.VendorID),
		"vendor_part_id":      fmt.Sprint(a.VendorPartID),
		"hw_ver":              fmt.Sprintf("0x%X", a.HWVersion),
		"phys_port_cnt":       fmt.Sprint(a.PhysPortCnt),
		"max_mr_size":         fmt.Sprintf("0x%x", a.MaxMRSize),
		"page_size_cap":       fmt.Sprintf("0x%x", a.PageSizeCap),
		"max_qp":              fmt.Sprint(a.MaxQP),
		"max_qp_wr":           fmt.Sprint(a.MaxQPWR),
		"device_cap_flags":    fmt.Sprintf("0x%08x", uint32(a.DeviceCapFlags)),
		"max_sge":             fmt.Sprint(a.MaxSGE),
		"max_sge_rd":          fmt.Sprint(a.MaxSGERD),
		"max_cq":              fmt.Sprint(a.MaxCQ),
		"max_cqe":             fmt.Sprint(a.MaxCQE),
		"max_mr":              fmt.Sprint(a.MaxMR),
		"max_pd":              fmt.Sprint(a.MaxPD),
		"max_qp_rd_atom":      fmt.Sprint(a.MaxQPRdAtom),
		"max_res_rd_atom":     fmt.Sprint(a.MaxResRdAtom),
		"max_qp_init_rd_atom": fmt.Sprint(a.MaxQPInitRdAtom),
		"atomic_cap":          fmt.Sprintf("%s (%d)", a.AtomicCap, int(a.AtomicCap)),
		"max_mw":              fmt.Sprint(a.MaxMW),
		"max_mcast_grp":       fmt.Sprint(a.MaxMcastGrp),
		"max_ah":              fmt.Sprint(a.MaxAH),
		"max_srq":             fmt.Sprint(a.MaxSRQ),
		"max_srq_wr":          fmt.Sprint(a.MaxSRQWR),
		"max_srq_sge":         fmt.Sprint(a.MaxSRQSGE),
		"max_pkeys":           fmt.Sprint(a.MaxPKeys),
		"local_ca_ack_delay":  fmt.Sprint(a.LocalCAAckDelay),
	})
}

func TestQueryPortMatchesIbvDevinfo(t *testing.T) {
	ctx := openTestDevice(t)
	p, err := ctx.QueryPort(1)
	if err != nil {
		t.Fatal(err)
	}
	if p.State != verbs.PortActive {
		t.Errorf("port 1 state %s, want PORT_ACTIVE", p.State)
	}
	info := ibvDevinfo(t, ctx.Name())
	compare(t, ctx.Name()+" port 1", info.port, map[string]string{
		"state":          fmt.Sprintf("%s (%d)", p.State, int(p.State)),
		"max_mtu":        fmt.Sprintf("%s (%d)", p.MaxMTU, int(p.MaxMTU)),
		"active_mtu":     fmt.Sprintf("%s (%d)", p.ActiveMTU, int(p.ActiveMTU)),
		"sm_lid":         fmt.Sprint(p.SMLID),
		"port_lid":       fmt.Sprint(p.LID),
		"port_lmc":       fmt.Sprintf("0x%02x", p.LMC),
		"link_layer":     p.LinkLayer.String(),
		"max_msg_sz":     fmt.Sprintf("0x%x", p.MaxMsgSize),
		"port_cap_flags": fmt.Sprintf("0x%08x", p.PortCapFlags),
		"pkey_tbl_len":   fmt.Sprint(p.PKeyTblLen),
		"gid_tbl_len":    fmt.Sprint(p.GIDTblLen),
	})
	// ibv_devinfo prints the physical state for IB-transport ports only, as
	// "NAME (code)".
	if ps, ok := info.port["phys_state"]; ok && !strings.HasSuffix(ps, fmt.Sprintf("(%d)", p.PhysState)) {
		t.Errorf("phys_state: ibv_devinfo says %q, verbs says %d", ps, p.PhysState)
	}
}

func TestGIDTableMatchesIbvDevinfo(t *testing.T) {
	ctx := openTestDevice(t)
	table, err := ctx.GIDTable()
	if err != nil {
		t.Fatal(err)
	}
	if len(table) == 0 {
		t.Fatal("empty GID table")
	}
	var got []string
	for _, e := range table {
		if e.Port != 1 {
			continue
		}
		line := e.GID.String()
		p, err := ctx.QueryPort(1)
		if err != nil {
			t.Fatal(err)
		}
		if p.LinkLayer == verbs.LinkLayerEthernet && e.Type != verbs.GIDTypeIB {
			line += ", " + e.Type.String()
		}
		got = append(got, line)
		// ibv_query_gid agrees with the table entry.
		g, err := ctx.QueryGID(1, e.Index)
		if err != nil {
			t.Fatal(err)
		}
		if g != e.GID {
			t.Errorf("QueryGID(1, %d) = %s, table says %s", e.Index, g, e.GID)
		}
	}
	devs, err := verbs.Devices()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		if d.Name == ctx.Name() && d.Transport == verbs.TransportIWARP {
			// ibv_devinfo prints no GIDs for iWARP; an iWARP GID starts
			// with the MAC address of the netdev.
			checkIWARPGID(t, table)
			return
		}
	}
	info := ibvDevinfo(t, ctx.Name())
	if strings.Join(got, "\n") != strings.Join(info.gids, "\n") {
		t.Errorf("GID table:\nverbs:\n%s\nibv_devinfo:\n%s", strings.Join(got, "\n"), strings.Join(info.gids, "\n"))
	}
}

func checkIWARPGID(t *testing.T, table []verbs.GIDEntry) {
	t.Helper()
	ifc, err := net.InterfaceByName(testbed.Netdev(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(table) != 1 || !bytes.Equal(table[0].GID[:6], ifc.HardwareAddr) {
		t.Errorf("iWARP GID table %v, want one GID starting with %s", table, ifc.HardwareAddr)
	}
}

func TestDevicesListsTestDevice(t *testing.T) {
	dev := testbed.Device(t)
	devs, err := verbs.Devices()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs {
		if d.Name != dev {
			continue
		}
		sysfs, err := os.ReadFile(filepath.Join("/sys/class/infiniband", dev, "node_guid"))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := guid(d.GUID), strings.TrimSpace(string(sysfs)); got != want {
			t.Errorf("%s GUID %s, sysfs node_guid %s", dev, got, want)
		}
		if d.IBDevPath != filepath.Join("/sys/class/infiniband", dev) {
			t.Errorf("%s IBDevPath %q", dev, d.IBDevPath)
		}
		return
	}
	t.Fatalf("Devices() = %v lacks %s", devs, dev)
}

func TestNetDevices(t *testing.T) {
	dev, netdev := testbed.Device(t), testbed.Netdev(t)
	names, err := verbs.NetDevices(dev)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || names[0] != netdev {
		t.Errorf("NetDevices(%s) = %v, want [%s]", dev, names, netdev)
	}
	if _, err := verbs.NetDevices("nosuchdev0"); !errors.Is(err, syscall.ENODEV) {
		t.Errorf("NetDevices(nosuchdev0) error %v, want ENODEV", err)
	}
}

func TestOpenErrors(t *testing.T) {
	testbed.Device(t) // needs libibverbs to find devices
	for _, name := range []string{"nosuchdev0", ""} {
		ctx, err := verbs.Open(name)
		if !errors.Is(err, syscall.ENODEV) || ctx != nil {
			t.Errorf("Open(%q) = %v, %v; want nil, ENODEV", name, ctx, err)
		}
		var op *verbs.OpError
		if !errors.As(err, &op) || op.Op != "ibv_open_device" {
			t.Errorf("Open(%q) error %#v is not an *OpError for ibv_open_device", name, err)
		}
	}
}

func TestBadPortAndIndex(t *testing.T) {
	ctx := openTestDevice(t)
	a, err := ctx.QueryDevice()
	if err != nil {
		t.Fatal(err)
	}
	// Out of range for the API, then out of range for the device (errno from C).
	for _, port := range []int{0, -1, 256, a.PhysPortCnt + 1} {
		if _, err := ctx.QueryPort(port); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("QueryPort(%d) error %v, want EINVAL", port, err)
		}
	}
	p, err := ctx.QueryPort(1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctx.QueryGID(1, p.GIDTblLen); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("QueryGID(1, %d) error %v, want EINVAL", p.GIDTblLen, err)
	}
	if _, err := ctx.QueryGID(1, -1); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("QueryGID(1, -1) error %v, want EINVAL", err)
	}
	if _, err := ctx.QueryPKey(1, -1); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("QueryPKey(1, -1) error %v, want EINVAL", err)
	}
}

func TestClosedContext(t *testing.T) {
	ctx, err := verbs.Open(testbed.Device(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := ctx.Close(); err != nil {
		t.Fatal(err)
	}
	var nilCtx *verbs.Context
	for _, c := range []*verbs.Context{ctx, nilCtx} {
		checks := map[string]error{
			"Close": c.Close(),
		}
		_, checks["QueryDevice"] = c.QueryDevice()
		_, checks["QueryPort"] = c.QueryPort(1)
		_, checks["GIDTable"] = c.GIDTable()
		_, checks["QueryGID"] = c.QueryGID(1, 0)
		_, checks["QueryPKey"] = c.QueryPKey(1, 0)
		for name, err := range checks {
			if !errors.Is(err, verbs.ErrClosed) {
				t.Errorf("%s on %v context: %v, want ErrClosed", name, map[bool]string{true: "nil", false: "closed"}[c == nil], err)
			}
		}
	}
	if ctx.Name() != testbed.Device(t) {
		t.Errorf("Name after Close = %q", ctx.Name())
	}
}

// TestQueryPKey: every entry of port 1's P_Key table as sysfs shows it, the
// first one the default full-member key 0xffff on RoCE; past the table, an
// error. An iWARP port has no P_Key table (its length is 0 or 1, and sysfs
// has no pkeys folder).
func TestQueryPKey(t *testing.T) {
	ctx := openTestDevice(t)
	p, err := ctx.QueryPort(1)
	if err != nil {
		t.Fatal(err)
	}
	dir := "/sys/class/infiniband/" + testbed.Device(t) + "/ports/1/pkeys/"
	if _, err := os.Stat(dir); err != nil && testbed.IWARP(t) {
		if _, err := ctx.QueryPKey(1, 0); err == nil {
			t.Errorf("QueryPKey(1, 0) on iWARP (no P_Key table in sysfs) succeeded")
		}
		testbed.Limitation(t, "iWARP ports have no P_Key table (P_Key table length %d, %v)", p.PKeyTblLen, err)
	}
	if p.PKeyTblLen < 1 {
		t.Fatalf("P_Key table length %d", p.PKeyTblLen)
	}
	for i := range p.PKeyTblLen {
		got, err := ctx.QueryPKey(1, i)
		if err != nil {
			t.Fatalf("QueryPKey(1, %d): %v", i, err)
		}
		b, err := os.ReadFile(dir + strconv.Itoa(i))
		if err != nil {
			t.Fatal(err)
		}
		want, err := strconv.ParseUint(strings.TrimSpace(string(b)), 0, 16)
		if err != nil {
			t.Fatal(err)
		}
		if uint64(got) != want {
			t.Errorf("QueryPKey(1, %d) = %#x, sysfs %#x", i, got, want)
		}
		if i == 0 && got != 0xffff {
			t.Errorf("QueryPKey(1, 0) = %#x, want the default 0xffff", got)
		}
	}
	// Past the table: libibverbs reads sysfs, which has no such entry.
	if _, err := ctx.QueryPKey(1, p.PKeyTblLen); !errors.Is(err, syscall.ENOENT) && !errors.Is(err, syscall.EINVAL) {
		t.Errorf("QueryPKey(1, %d) past the table: %v, want ENOENT or EINVAL", p.PKeyTblLen, err)
	}
}
