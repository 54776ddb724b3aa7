package verbs

import (
	"fmt"
	"sort"
	"strings"
	"syscall"

	"github.com/Mellanox/rdmamap"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// NetDevices returns the network interfaces an RDMA device is bound to: the
// Ethernet netdev of a RoCE or iWARP device, the IPoIB interfaces of an IB
// HCA. A device with none (or an unknown name) gives an error wrapping
// syscall.ENODEV.
//
// The mapping is rdmamap's, from netdev to RDMA device through the GID
// table's netdev attributes, asked for every interface of the host. iWARP
// devices have no such attributes; for them the kernel's RDMA netlink port
// query (what `rdma link show` prints) names the netdev.
func NetDevices(device string) ([]string, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, opError("netdev lookup", device, err)
	}
	var names []string
	for _, l := range links {
		name := l.Attrs().Name
		if dev, err := rdmamap.GetRdmaDeviceForNetdevice(name); err == nil && dev == device {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		names, err = portNetDevices(device)
		if err != nil {
			return nil, opError("netdev lookup", device, err)
		}
	}
	if len(names) == 0 {
		return nil, opError("netdev lookup", device, fmt.Errorf("no network interface: %w", syscall.ENODEV))
	}
	sort.Strings(names)
	return names, nil
}

// rdmaNLDevCmdPortGet is RDMA_NLDEV_CMD_PORT_GET (rdma_netlink.h), which the
// netlink package does not name.
const rdmaNLDevCmdPortGet = 5

// portNetDevices asks RDMA netlink for the ports of device and returns the
// netdev names they carry.
func portNetDevices(device string) ([]string, error) {
	link, err := netlink.RdmaLinkByName(device)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, syscall.ENODEV)
	}
	req := nl.NewNetlinkRequest(nl.RDMA_NL_NLDEV<<nl.RDMA_NL_GET_CLIENT_SHIFT|rdmaNLDevCmdPortGet, unix.NLM_F_ACK|unix.NLM_F_DUMP)
	req.AddData(nl.NewRtAttr(nl.RDMA_NLDEV_ATTR_DEV_INDEX, nl.Uint32Attr(link.Attrs.Index)))
	msgs, err := req.Execute(unix.NETLINK_RDMA, 0)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, m := range msgs {
		attrs, err := nl.ParseRouteAttr(m)
		if err != nil {
			return nil, err
		}
		for _, a := range attrs {
			if a.Attr.Type == nl.RDMA_NLDEV_ATTR_NDEV_NAME {
				names = append(names, strings.TrimRight(string(a.Value), "\x00"))
			}
		}
	}
	return names, nil
}
