# Common settings for the test-bed scripts; sourced, not run.
# shellcheck shell=bash

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
# Everything downloaded or built lives here (ignored by git). Override with RDMA_CACHE.
CACHE=${RDMA_CACHE:-$REPO/.cache}
TESTBED=$CACHE/testbed
export PATH=$PATH:/usr/local/go/bin:/usr/sbin:/sbin

die() {
	echo "${0##*/}: $*" >&2
	exit 1
}

# Debian packages the bed and the project's builds need. The kernel headers
# package is added by setup.sh once the guest kernel's ABI is known.
TESTBED_PACKAGES=(
	qemu-system-x86 busybox-static kmod cpio xz-utils make gcc
	libibverbs-dev librdmacm-dev rdma-core ibverbs-providers
	rdmacm-utils perftest ibverbs-utils iproute2
)

# Modules the guest loads, by name; setup.sh expands them to insmod order.
# crc32_generic is needed by rdma_rxe, which asks the crypto API for "crc32"
# by name, so no module dependency pulls it in.
GUEST_MODULES=(
	crc32_generic virtio_pci 9pnet_virtio 9p veth
	configfs ib_uverbs rdma_ucm rdma_rxe crc32c_generic siw
)
