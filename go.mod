module github.com/go-rdma/rdma

go 1.26.0

require (
	github.com/Mellanox/rdmamap v1.1.0
	github.com/vishvananda/netlink v1.3.1
	golang.org/x/sys v0.50.0
)

require github.com/vishvananda/netns v0.0.5 // indirect
