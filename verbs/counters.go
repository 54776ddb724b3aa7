package verbs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/go-rdma/rdma/cgo"
)

// sysfsClass is where the kernel lists RDMA devices.
const sysfsClass = "/sys/class/infiniband"

// PortCounters returns the counters of port, counted from 1, by name: the
// InfiniBand port counters (sysfs ports/N/counters: port_xmit_packets,
// port_rcv_data in units of 4 bytes, …) and the driver's own (ports/N/
// hw_counters; rxe's sent_pkts, rcvd_pkts, rcvd_rnr_err, retry_exceeded_err,
// …; these are what the rdma tool's "rdma statistic" shows). A device that keeps
// none (siw) gives EOPNOTSUPP. The counters are the device's, not this
// context's: they count every process's traffic. The kernel reads the
// driver's counters at most once per hw_counters/lifespan milliseconds (10
// by default) and answers from that reading meanwhile.
func (c *Context) PortCounters(port int) (map[string]uint64, error) {
	var counters map[string]uint64
	err := c.use("read port counters", fmt.Sprintf(" port %d", port), func(cgo.Context) error {
		if err := checkPort(port); err != nil {
			return err
		}
		dir := filepath.Join(sysfsClass, c.name, "ports", strconv.Itoa(port))
		if _, err := os.Stat(dir); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("no port %d: %w", port, syscall.EINVAL)
			}
			return err
		}
		counters = make(map[string]uint64)
		for _, sub := range []string{"counters", "hw_counters"} {
			if err := readCounters(filepath.Join(dir, sub), counters); err != nil {
				return err
			}
		}
		if len(counters) == 0 {
			return fmt.Errorf("the device keeps no counters: %w", syscall.EOPNOTSUPP)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return counters, nil
}

// readCounters adds the counters of the sysfs directory dir, if it exists,
// to m. hw_counters' "lifespan" is how long the kernel keeps a reading
// (ms), not a counter, and is left out.
func readCounters(dir string, m map[string]uint64) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || e.Name() == "lifespan" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return fmt.Errorf("counter %s: %w", e.Name(), err)
		}
		m[e.Name()] = v
	}
	return nil
}
