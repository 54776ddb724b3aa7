// Package testbed selects the RDMA device that device tests run on and
// enforces the rules of the soft-RDMA test bed (see README.md):
//
//   - outside the bed, with no device named, device tests skip and say how to
//     run them;
//   - inside the bed (RDMA_VM=1) a device test must not skip, except through
//     Limitation for a documented transport limitation, which hack/vm-test
//     and hack/vm-exec check.
//
// The device under test comes from the environment: RDMA_TEST_DEVICE (e.g.
// rxe0, siw0, mlx5_0), RDMA_TEST_ADDR (an IP address on its netdev) and
// RDMA_TEST_NETDEV. In the bed they name the device of RDMA_TEST_TRANSPORT=rxe|siw
// (hack/rdma-devices.sh env), which hack/vm-test sets for each run.
package testbed

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// LimitationsFile is the file, in the run folder RDMA_VM_OUT, where Limitation
// records the tests it skipped, one name a line.
const LimitationsFile = "limitations"

// InVM reports whether the test runs inside the test-bed guest.
func InVM() bool { return os.Getenv("RDMA_VM") == "1" }

const howToRun = "device test: no RDMA device selected; run ./ci/test.sh to run it in the soft-RDMA VM " +
	"on rxe and siw, or set RDMA_TEST_DEVICE (and RDMA_TEST_ADDR, RDMA_TEST_NETDEV) on a host with RDMA"

// Device returns the name of the RDMA device under test. With none selected it
// skips t outside the bed and fails it inside.
func Device(t testing.TB) string {
	t.Helper()
	return need(t, "RDMA_TEST_DEVICE")
}

// Addr returns the IP address of the device under test's netdev.
func Addr(t testing.TB) string {
	t.Helper()
	return need(t, "RDMA_TEST_ADDR")
}

// Netdev returns the name of the netdev the device under test is bound to.
func Netdev(t testing.TB) string {
	t.Helper()
	return need(t, "RDMA_TEST_NETDEV")
}

// IWARP reports whether the device under test is iWARP: its sysfs node
// type is an RNIC (siw, Chelsio, Intel iWARP), where IB and RoCE devices
// are CAs. Outside the test bed it skips t, as Device does.
func IWARP(t testing.TB) bool {
	t.Helper()
	name := Device(t)
	b, err := os.ReadFile(filepath.Join("/sys/class/infiniband", name, "node_type"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(string(b), "RNIC")
}

func need(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v != "" {
		return v
	}
	if InVM() {
		t.Fatalf("%s is not set inside the test VM: run the tests with RDMA_TEST_TRANSPORT=rxe|siw", name)
	}
	t.Skip(howToRun)
	return ""
}

// Main runs m, for a TestMain. A package's examples that check their
// output need an RDMA device and, unlike tests, cannot skip: outside the
// bed, with no device selected (RDMA_TEST_ADDR unset) and no -test.run
// given, Main leaves them out (it runs -test.run=^(Test|Fuzz)) and says so
// on stderr. Inside the bed they always run.
func Main(m *testing.M) int {
	flag.Parse()
	if run := flag.Lookup("test.run"); !InVM() && os.Getenv("RDMA_TEST_ADDR") == "" && run != nil && run.Value.String() == "" {
		if err := run.Value.Set("^(Test|Fuzz)"); err != nil {
			fmt.Fprintln(os.Stderr, "testbed:", err)
			return 2
		}
		fmt.Fprintln(os.Stderr, "examples left out: they need an RDMA device; ./ci/test.sh runs them in the soft-RDMA VM "+
			"on rxe and siw, or set RDMA_TEST_ADDR (and RDMA_TEST_DEVICE, RDMA_TEST_NETDEV) on a host with RDMA")
	}
	return m.Run()
}

// Seed returns the seed of a randomized test: RDMA_TEST_SEED when set, to
// replay a run, else the clock's nanoseconds. It logs the seed.
func Seed(t testing.TB) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("RDMA_TEST_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 0, 64); err != nil {
			t.Fatalf("RDMA_TEST_SEED: %v", err)
		}
	}
	t.Logf("seed %d (RDMA_TEST_SEED=%d replays this run)", seed, seed)
	return seed
}

// Limitation skips t because the transport under test lacks what t needs. The
// reason must name the missing capability (e.g. "siw0: atomic_cap is
// ATOMIC_NONE"). Inside the bed the skip is recorded so that hack/vm-test and
// hack/vm-exec accept it; any other skip there fails the run.
func Limitation(t testing.TB, format string, args ...any) {
	t.Helper()
	reason := fmt.Sprintf(format, args...)
	if dir := os.Getenv("RDMA_VM_OUT"); InVM() && dir != "" {
		f, err := os.OpenFile(filepath.Join(dir, LimitationsFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatalf("recording the transport limitation: %v", err)
		}
		_, err = fmt.Fprintln(f, t.Name())
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatalf("recording the transport limitation: %v", err)
		}
	}
	t.Skip("transport limitation: " + reason)
}

// WaitCMListen waits until process pid (named comm) has an rdma_cm
// identifier listening on addr ("host:port"), as `rdma resource show cm_id`
// tells: a C server started by a test is then ready for connections, where
// connecting sooner races its setup.
func WaitCMListen(t testing.TB, pid int, comm, addr string) {
	t.Helper()
	listening := fmt.Sprintf(" pid %d comm %s src-addr %s ", pid, comm, addr)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, err := exec.Command("rdma", "resource", "show", "cm_id").CombinedOutput()
		if err != nil {
			t.Fatalf("rdma resource show cm_id: %v: %s", err, out)
		}
		for line := range strings.Lines(string(out)) {
			// "... state LISTEN ps TCP pid ..." (or ps UDP)
			if strings.Contains(line, "state LISTEN ps ") && strings.Contains(line, listening) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s (pid %d) is not listening on %s after 20 s:\n%s", comm, pid, addr, out)
		}
	}
}
