package verbs

import (
	"fmt"
	"math"
	"sync"
	"syscall"

	"github.com/go-rdma/rdma/cgo"
)

// Context is an open RDMA device (struct ibv_context).
type Context struct {
	life
	name     string
	raw      cgo.Context
	objMu    sync.Mutex
	objects  map[uintptr]any // ID of a QP, CQ or SRQ → its Go object, for events
	eventsMu sync.Mutex
	events   *eventLoop // started by Events

	attr *DeviceAttr // asked by Open
	siw  bool        // the device is soft-iWARP, whose quirks validation steers clear of
	rxe  bool        // the device is soft-RoCE, which writes the kernel's completion flags

	compMu sync.Mutex
	comp   *compChannel // made by the first CreateCQ
}

// Open opens the RDMA device named name (ibv_open_device) and reads its
// attributes (ibv_query_device_ex; see QueryDevice). An unknown name fails
// with an error wrapping syscall.ENODEV.
func Open(name string) (*Context, error) {
	if name == "" {
		return nil, opError("ibv_open_device", "", fmt.Errorf("empty device name: %w", syscall.ENODEV))
	}
	raw, err := cgo.OpenDevice(name)
	if err != nil {
		return nil, opError("ibv_open_device", name, err)
	}
	// The attributes tell the soft devices apart, whose kernel drivers
	// need the binding's guards (siw, rxe): a context that could not ask
	// would go without them.
	attr, err := raw.QueryDevice()
	if err != nil {
		raw.Close()
		return nil, opError("ibv_query_device_ex", name, err)
	}
	return &Context{life: born(), name: name, raw: raw, objects: make(map[uintptr]any), attr: &attr,
		siw: attr.VendorID == siwVendorID, rxe: attr.VendorID == rxeVendorID}, nil
}

// The vendor IDs soft-iWARP ("bmt") and soft-RoCE report.
const (
	siwVendorID = 0x626d74
	rxeVendorID = 0xffffff
)

// Name returns the device's name; it stays valid after Close.
func (c *Context) Name() string {
	if c == nil {
		return ""
	}
	return c.name
}

// NumCompVectors returns how many completion vectors (CQOptions.Vector)
// the device has: often one per CPU (rxe and siw), on hardware one per
// interrupt.
func (c *Context) NumCompVectors() (int, error) {
	var n int
	err := c.use("num_comp_vectors", "", func(raw cgo.Context) error {
		n = raw.NumCompVectors()
		return nil
	})
	return n, err
}

// Close closes the device. It fails with EBUSY while objects made from it
// (PDs, CQs, …) are open, and with ErrClosed the second time. It stops the
// event goroutine and closes the Events channel.
func (c *Context) Close() error {
	if c == nil {
		return opError("ibv_close_device", "", ErrClosed)
	}
	return opError("ibv_close_device", c.name, c.close(func() error {
		// The channel first: if it fails, the context stays as it was.
		// ibv_close_device does not fail.
		if err := c.closeCompChannel(); err != nil {
			return err
		}
		c.stopEvents()
		return c.raw.Close()
	}))
}

// use runs f with the raw context while it is guaranteed to stay open.
func (c *Context) use(op, object string, f func(cgo.Context) error) error {
	if c == nil {
		return opError(op, object, ErrClosed)
	}
	if !c.acquire() {
		return opError(op, c.name+object, ErrClosed)
	}
	defer c.release()
	return opError(op, c.name+object, f(c.raw))
}

// QueryDevice returns the device's attributes and limits (ibv_query_device_ex).
//
// The attributes do not change while the device is open: Open asks for
// them, and QueryDevice returns a copy of that answer.
func (c *Context) QueryDevice() (*DeviceAttr, error) {
	var a DeviceAttr
	err := c.use("ibv_query_device_ex", "", func(raw cgo.Context) error {
		a = *c.attr
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// QueryPort returns the attributes of port, counted from 1 (ibv_query_port).
func (c *Context) QueryPort(port int) (*PortAttr, error) {
	var a PortAttr
	err := c.use("ibv_query_port", fmt.Sprintf(" port %d", port), func(raw cgo.Context) (err error) {
		if err := checkPort(port); err != nil {
			return err
		}
		a, err = raw.QueryPort(uint8(port))
		return err
	})
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// GIDTable returns the valid entries of every port's GID table, with their
// types (ibv_query_gid_table).
func (c *Context) GIDTable() ([]GIDEntry, error) {
	var t []GIDEntry
	err := c.use("ibv_query_gid_table", "", func(raw cgo.Context) (err error) {
		t, err = raw.QueryGIDTable(cgo.MaxGIDEntries)
		return err
	})
	return t, err
}

// QueryGID returns entry index of port's GID table (ibv_query_gid). An unused
// slot gives the zero GID.
func (c *Context) QueryGID(port, index int) (GID, error) {
	var g GID
	err := c.use("ibv_query_gid", fmt.Sprintf(" port %d index %d", port, index), func(raw cgo.Context) (err error) {
		if err := checkPort(port); err != nil {
			return err
		}
		if index < 0 || index > math.MaxInt32 {
			return fmt.Errorf("GID index %d out of range: %w", index, syscall.EINVAL)
		}
		g, err = raw.QueryGID(uint8(port), index)
		return err
	})
	return g, err
}

// QueryPKey returns entry index of port's P_Key table (ibv_query_pkey).
func (c *Context) QueryPKey(port, index int) (uint16, error) {
	var p uint16
	err := c.use("ibv_query_pkey", fmt.Sprintf(" port %d index %d", port, index), func(raw cgo.Context) (err error) {
		if err := checkPort(port); err != nil {
			return err
		}
		if index < 0 || index > math.MaxUint16 {
			return fmt.Errorf("P_Key index %d out of range 0..65535: %w", index, syscall.EINVAL)
		}
		p, err = raw.QueryPKey(uint8(port), index)
		return err
	})
	return p, err
}

func checkPort(port int) error {
	if port < 1 || port > 255 {
		return fmt.Errorf("port %d out of range 1..255: %w", port, syscall.EINVAL)
	}
	return nil
}
