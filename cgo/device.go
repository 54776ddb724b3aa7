package cgo

/*
#include <stdlib.h>
#include <string.h>
#include <infiniband/verbs.h>

// ibv_query_port is a macro in verbs.h; cgo needs a function.
static inline int go_ibv_query_port(struct ibv_context *ctx, uint8_t port, struct ibv_port_attr *attr) {
	return ibv_query_port(ctx, port, attr);
}

static inline ssize_t go_ibv_query_gid_table(struct ibv_context *ctx, struct ibv_gid_entry *entries, size_t n) {
	return ibv_query_gid_table(ctx, entries, n, 0);
}

static inline int go_ibv_query_device_ex(struct ibv_context *ctx, struct ibv_device_attr_ex *attr) {
	return ibv_query_device_ex(ctx, NULL, attr);
}
*/
import "C"

import (
	"encoding/binary"
	"syscall"
	"unsafe"
)

// Device describes an RDMA device as ibv_get_device_list reports it.
type Device struct {
	Name      string // kernel name, e.g. "mlx5_0", "rxe0"
	GUID      uint64 // node GUID in host order
	NodeType  NodeType
	Transport Transport
	DevPath   string // sysfs path of the uverbs device
	IBDevPath string // sysfs path of the RDMA device
}

// DeviceList lists the RDMA devices the verbs library finds.
func DeviceList() ([]Device, error) {
	var n C.int
	list, err := C.ibv_get_device_list(&n)
	if list == nil {
		if err == nil {
			err = syscall.ENOSYS
		}
		return nil, err
	}
	defer C.ibv_free_device_list(list)
	devs := unsafe.Slice(list, int(n))
	out := make([]Device, 0, len(devs))
	for _, d := range devs {
		out = append(out, Device{
			Name:      C.GoString(&d.name[0]),
			GUID:      beToHost64(uint64(C.ibv_get_device_guid(d))),
			NodeType:  NodeType(d.node_type),
			Transport: Transport(d.transport_type),
			DevPath:   C.GoString(&d.dev_path[0]),
			IBDevPath: C.GoString(&d.ibdev_path[0]),
		})
	}
	return out, nil
}

// Context is an open device (struct ibv_context *).
type Context struct {
	p *C.struct_ibv_context
}

// OpenDevice opens the device named name. An unknown name fails with ENODEV.
func OpenDevice(name string) (Context, error) {
	var n C.int
	list, err := C.ibv_get_device_list(&n)
	if list == nil {
		if err == nil {
			err = syscall.ENOSYS
		}
		return Context{}, err
	}
	defer C.ibv_free_device_list(list)
	for _, d := range unsafe.Slice(list, int(n)) {
		if C.GoString(&d.name[0]) != name {
			continue
		}
		ctx, err := C.ibv_open_device(d)
		if ctx == nil {
			if err == nil {
				err = syscall.EIO
			}
			return Context{}, err
		}
		return Context{p: ctx}, nil
	}
	return Context{}, syscall.ENODEV
}

// Close closes the device (ibv_close_device).
func (c Context) Close() error {
	rc, err := C.ibv_close_device(c.p)
	return errnoOf(rc, err)
}

// AsyncFD is the file descriptor of the context's asynchronous event queue.
func (c Context) AsyncFD() int { return int(c.p.async_fd) }

// NumCompVectors is how many completion vectors the device has.
func (c Context) NumCompVectors() int { return int(c.p.num_comp_vectors) }

// DeviceAttr mirrors struct ibv_device_attr_ex (the parts every provider fills).
type DeviceAttr struct {
	FirmwareVersion         string
	NodeGUID                uint64 // host order
	SysImageGUID            uint64 // host order
	MaxMRSize               uint64
	PageSizeCap             uint64
	VendorID                uint32
	VendorPartID            uint32
	HWVersion               uint32
	MaxQP                   int
	MaxQPWR                 int
	DeviceCapFlags          uint64 // enum ibv_device_cap_flags, plus the _ex bits
	MaxSGE                  int
	MaxSGERD                int
	MaxCQ                   int
	MaxCQE                  int
	MaxMR                   int
	MaxPD                   int
	MaxQPRdAtom             int
	MaxEECRdAtom            int
	MaxResRdAtom            int
	MaxQPInitRdAtom         int
	MaxEECInitRdAtom        int
	AtomicCap               AtomicCap
	MaxEE                   int
	MaxRDD                  int
	MaxMW                   int
	MaxRawIPv6QP            int
	MaxRawEthyQP            int
	MaxMcastGrp             int
	MaxMcastQPAttach        int
	MaxTotalMcastQPAttach   int
	MaxAH                   int
	MaxFMR                  int
	MaxMapPerFMR            int
	MaxSRQ                  int
	MaxSRQWR                int
	MaxSRQSGE               int
	MaxPKeys                int
	LocalCAAckDelay         int
	PhysPortCnt             int
	CompletionTimestampMask uint64
	HCACoreClock            uint64 // kHz
	MaxDMSize               uint64
	ODPGeneralCaps          uint64
}

// QueryDevice returns the device's attributes (ibv_query_device_ex).
func (c Context) QueryDevice() (DeviceAttr, error) {
	var ax C.struct_ibv_device_attr_ex
	if rc, err := C.go_ibv_query_device_ex(c.p, &ax); rc != 0 {
		return DeviceAttr{}, errnoOf(rc, err)
	}
	a := &ax.orig_attr
	return DeviceAttr{
		FirmwareVersion:         C.GoString(&a.fw_ver[0]),
		NodeGUID:                beToHost64(uint64(a.node_guid)),
		SysImageGUID:            beToHost64(uint64(a.sys_image_guid)),
		MaxMRSize:               uint64(a.max_mr_size),
		PageSizeCap:             uint64(a.page_size_cap),
		VendorID:                uint32(a.vendor_id),
		VendorPartID:            uint32(a.vendor_part_id),
		HWVersion:               uint32(a.hw_ver),
		MaxQP:                   int(a.max_qp),
		MaxQPWR:                 int(a.max_qp_wr),
		DeviceCapFlags:          uint64(uint32(a.device_cap_flags)) | uint64(ax.device_cap_flags_ex),
		MaxSGE:                  int(a.max_sge),
		MaxSGERD:                int(a.max_sge_rd),
		MaxCQ:                   int(a.max_cq),
		MaxCQE:                  int(a.max_cqe),
		MaxMR:                   int(a.max_mr),
		MaxPD:                   int(a.max_pd),
		MaxQPRdAtom:             int(a.max_qp_rd_atom),
		MaxEECRdAtom:            int(a.max_ee_rd_atom),
		MaxResRdAtom:            int(a.max_res_rd_atom),
		MaxQPInitRdAtom:         int(a.max_qp_init_rd_atom),
		MaxEECInitRdAtom:        int(a.max_ee_init_rd_atom),
		AtomicCap:               AtomicCap(a.atomic_cap),
		MaxEE:                   int(a.max_ee),
		MaxRDD:                  int(a.max_rdd),
		MaxMW:                   int(a.max_mw),
		MaxRawIPv6QP:            int(a.max_raw_ipv6_qp),
		MaxRawEthyQP:            int(a.max_raw_ethy_qp),
		MaxMcastGrp:             int(a.max_mcast_grp),
		MaxMcastQPAttach:        int(a.max_mcast_qp_attach),
		MaxTotalMcastQPAttach:   int(a.max_total_mcast_qp_attach),
		MaxAH:                   int(a.max_ah),
		MaxFMR:                  int(a.max_fmr),
		MaxMapPerFMR:            int(a.max_map_per_fmr),
		MaxSRQ:                  int(a.max_srq),
		MaxSRQWR:                int(a.max_srq_wr),
		MaxSRQSGE:               int(a.max_srq_sge),
		MaxPKeys:                int(a.max_pkeys),
		LocalCAAckDelay:         int(a.local_ca_ack_delay),
		PhysPortCnt:             int(a.phys_port_cnt),
		CompletionTimestampMask: uint64(ax.completion_timestamp_mask),
		HCACoreClock:            uint64(ax.hca_core_clock),
		MaxDMSize:               uint64(ax.max_dm_size),
		ODPGeneralCaps:          uint64(ax.odp_caps.general_caps),
	}, nil
}

// PortAttr mirrors struct ibv_port_attr.
type PortAttr struct {
	State         PortState
	MaxMTU        MTU
	ActiveMTU     MTU
	GIDTblLen     int
	PortCapFlags  uint32
	MaxMsgSize    uint32
	BadPKeyCntr   uint32
	QKeyViolCntr  uint32
	PKeyTblLen    int
	LID           uint16
	SMLID         uint16
	LMC           uint8
	MaxVLNum      uint8
	SMSL          uint8
	SubnetTimeout uint8
	InitTypeReply uint8
	ActiveWidth   uint8
	ActiveSpeed   uint8
	PhysState     uint8
	LinkLayer     LinkLayer
	Flags         uint8
	PortCapFlags2 uint16
}

// QueryPort returns the attributes of port (counted from 1).
func (c Context) QueryPort(port uint8) (PortAttr, error) {
	var a C.struct_ibv_port_attr
	if rc, err := C.go_ibv_query_port(c.p, C.uint8_t(port), &a); rc != 0 {
		return PortAttr{}, errnoOf(rc, err)
	}
	return PortAttr{
		State:         PortState(a.state),
		MaxMTU:        MTU(a.max_mtu),
		ActiveMTU:     MTU(a.active_mtu),
		GIDTblLen:     int(a.gid_tbl_len),
		PortCapFlags:  uint32(a.port_cap_flags),
		MaxMsgSize:    uint32(a.max_msg_sz),
		BadPKeyCntr:   uint32(a.bad_pkey_cntr),
		QKeyViolCntr:  uint32(a.qkey_viol_cntr),
		PKeyTblLen:    int(a.pkey_tbl_len),
		LID:           uint16(a.lid),
		SMLID:         uint16(a.sm_lid),
		LMC:           uint8(a.lmc),
		MaxVLNum:      uint8(a.max_vl_num),
		SMSL:          uint8(a.sm_sl),
		SubnetTimeout: uint8(a.subnet_timeout),
		InitTypeReply: uint8(a.init_type_reply),
		ActiveWidth:   uint8(a.active_width),
		ActiveSpeed:   uint8(a.active_speed),
		PhysState:     uint8(a.phys_state),
		LinkLayer:     LinkLayer(a.link_layer),
		Flags:         uint8(a.flags),
		PortCapFlags2: uint16(a.port_cap_flags2),
	}, nil
}

// GIDEntry is one valid entry of a port's GID table (struct ibv_gid_entry).
type GIDEntry struct {
	GID        GID
	Index      int
	Port       int
	Type       GIDType
	NetIfIndex int // ifindex of the netdev behind a RoCE GID; 0 for IB and iWARP
}

// MaxGIDEntries is the most valid GID entries one QueryGIDTable can read:
// the uverbs ioctl carries the output buffer's length in 16 bits, so
// 65535/32 entries fit. Only valid entries count; real devices have a
// handful per port.
const MaxGIDEntries = 65535 / 32

// QueryGIDTable returns every valid GID of every port (ibv_query_gid_table);
// max bounds the number of entries returned.
func (c Context) QueryGIDTable(max int) ([]GIDEntry, error) {
	if max <= 0 {
		return nil, syscall.EINVAL
	}
	entries := (*C.struct_ibv_gid_entry)(C.calloc(C.size_t(max), C.sizeof_struct_ibv_gid_entry))
	if entries == nil {
		return nil, syscall.ENOMEM
	}
	defer C.free(unsafe.Pointer(entries))
	n, err := C.go_ibv_query_gid_table(c.p, entries, C.size_t(max))
	if n < 0 {
		// ibv_query_gid_table returns -errno; errno may be left from a
		// sysfs read of its fallback.
		switch {
		case n < -1:
			err = syscall.Errno(-n)
		case err == nil:
			err = syscall.EIO
		}
		return nil, err
	}
	out := make([]GIDEntry, 0, int(n))
	for _, e := range unsafe.Slice(entries, int(n)) {
		out = append(out, GIDEntry{
			GID:        *(*GID)(unsafe.Pointer(&e.gid)),
			Index:      int(e.gid_index),
			Port:       int(e.port_num),
			Type:       GIDType(e.gid_type),
			NetIfIndex: int(e.ndev_ifindex),
		})
	}
	return out, nil
}

// QueryGID returns the GID at index of port (ibv_query_gid).
func (c Context) QueryGID(port uint8, index int) (GID, error) {
	var g C.union_ibv_gid
	if rc, err := C.ibv_query_gid(c.p, C.uint8_t(port), C.int(index), &g); rc != 0 {
		return GID{}, errnoOf(rc, err)
	}
	return *(*GID)(unsafe.Pointer(&g)), nil
}

// QueryPKey returns the P_Key at index of port, in host order (ibv_query_pkey).
func (c Context) QueryPKey(port uint8, index int) (uint16, error) {
	var p C.__be16
	if rc, err := C.ibv_query_pkey(c.p, C.uint8_t(port), C.int(index), &p); rc != 0 {
		return 0, errnoOf(rc, err)
	}
	var b [2]byte
	*(*C.__be16)(unsafe.Pointer(&b[0])) = p
	return binary.BigEndian.Uint16(b[:]), nil
}

// beToHost64 converts a __be64 value read as a native integer to host order.
func beToHost64(v uint64) uint64 {
	var b [8]byte
	binary.NativeEndian.PutUint64(b[:], v)
	return binary.BigEndian.Uint64(b[:])
}
