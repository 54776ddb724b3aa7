#!/usr/bin/env bash
# Creates (up) or removes (down) the soft-RDMA devices the tests use: a veth pair with
# soft-RoCE (rxe) on one end and soft-iWARP (siw) on the other. The test-bed guest runs
# this at boot; on a host whose kernel has rdma_rxe/siw, run it as root to get the same
# devices natively, then `eval "$(hack/rdma-devices.sh env rxe)"` before `go test`.
#
#   hack/rdma-devices.sh up | down | env [rxe|siw]
#
# Names and addresses (override any of them through the environment):
#   RDMA_RXE_DEV=rxe0  RDMA_RXE_NETDEV=veth0  RDMA_RXE_ADDR=192.0.2.1
#   RDMA_SIW_DEV=siw0  RDMA_SIW_NETDEV=veth1  RDMA_SIW_ADDR=192.0.2.2
# 192.0.2.0/24 is TEST-NET-1: never routed, nothing leaves the machine.
# `env` prints them as export lines; `env rxe|siw` adds RDMA_TEST_TRANSPORT and
# RDMA_TEST_DEVICE/_NETDEV/_ADDR naming that transport's device (internal/testbed).
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin

: "${RDMA_RXE_DEV:=rxe0}" "${RDMA_RXE_NETDEV:=veth0}" "${RDMA_RXE_ADDR:=192.0.2.1}"
: "${RDMA_SIW_DEV:=siw0}" "${RDMA_SIW_NETDEV:=veth1}" "${RDMA_SIW_ADDR:=192.0.2.2}"

die() {
	echo "rdma-devices: $*" >&2
	exit 1
}

have_link() { ip link show dev "$1" >/dev/null 2>&1; }
have_rdma() { rdma link show "$1/1" >/dev/null 2>&1; }
# Whether port 1 of RDMA device $1 is ACTIVE, from sysfs: no process to start (each one
# costs a tenth of a second or more in the emulated guest).
active() {
	local state
	read -r state 2>/dev/null <"/sys/class/infiniband/$1/ports/1/state" && [ "$state" = "4: ACTIVE" ]
}

up() {
	# Both up already, as between two test binaries in one guest (hack/vm-test).
	if active "$RDMA_RXE_DEV" && active "$RDMA_SIW_DEV"; then
		return
	fi
	command -v rdma >/dev/null || die "the rdma tool is missing (package iproute2)"
	if [ -z "${RDMA_VM:-}" ] && command -v modprobe >/dev/null; then
		# Natively the modules may need loading; crc32_generic may be built in.
		modprobe -q crc32_generic 2>/dev/null || true
		modprobe rdma_rxe || die "cannot load rdma_rxe"
		modprobe siw || die "cannot load siw"
	fi
	if ! have_link "$RDMA_RXE_NETDEV" && ! have_link "$RDMA_SIW_NETDEV"; then
		ip link add "$RDMA_RXE_NETDEV" type veth peer name "$RDMA_SIW_NETDEV"
	fi
	ip link set lo up
	local dev addr
	for dev in "$RDMA_RXE_NETDEV:$RDMA_RXE_ADDR" "$RDMA_SIW_NETDEV:$RDMA_SIW_ADDR"; do
		addr=${dev#*:}
		dev=${dev%%:*}
		have_link "$dev" || die "netdev $dev does not exist"
		ip -4 addr show dev "$dev" | grep -q "inet $addr/" || ip addr add "$addr/24" dev "$dev"
		ip link set "$dev" up
	done
	have_rdma "$RDMA_RXE_DEV" || rdma link add "$RDMA_RXE_DEV" type rxe netdev "$RDMA_RXE_NETDEV" ||
		die "cannot create $RDMA_RXE_DEV (rxe on $RDMA_RXE_NETDEV)"
	have_rdma "$RDMA_SIW_DEV" || rdma link add "$RDMA_SIW_DEV" type siw netdev "$RDMA_SIW_NETDEV" ||
		die "cannot create $RDMA_SIW_DEV (siw on $RDMA_SIW_NETDEV)"
	wait_active "$RDMA_RXE_DEV"
	wait_active "$RDMA_SIW_DEV"
}

# A new link may report DOWN for a moment while its netdev comes up.
wait_active() {
	local _
	for _ in {1..50}; do
		active "$1" && return
		sleep 0.1
	done
	die "$1 did not become ACTIVE: $(rdma link show "$1/1")"
}

down() {
	have_rdma "$RDMA_RXE_DEV" && rdma link delete "$RDMA_RXE_DEV"
	have_rdma "$RDMA_SIW_DEV" && rdma link delete "$RDMA_SIW_DEV"
	have_link "$RDMA_RXE_NETDEV" && ip link delete "$RDMA_RXE_NETDEV"
	have_link "$RDMA_SIW_NETDEV" && ip link delete "$RDMA_SIW_NETDEV"
	return 0
}

env_lines() {
	case ${1-} in
	'' | rxe | siw) ;;
	*) die "unknown transport $1 (want rxe or siw)" ;;
	esac
	local v from
	for v in RDMA_RXE_DEV RDMA_RXE_NETDEV RDMA_RXE_ADDR RDMA_SIW_DEV RDMA_SIW_NETDEV RDMA_SIW_ADDR; do
		printf 'export %s=%q\n' "$v" "${!v}"
	done
	[ -n "${1-}" ] || return 0
	printf 'export RDMA_TEST_TRANSPORT=%q\n' "$1"
	for v in DEV:DEVICE NETDEV:NETDEV ADDR:ADDR; do
		from=RDMA_${1^^}_${v%%:*}
		printf 'export RDMA_TEST_%s=%q\n' "${v#*:}" "${!from}"
	done
}

case ${1:-} in
up) up ;;
down) down ;;
env) env_lines "${@:2}" ;;
*) die "usage: $0 up|down|env [rxe|siw]" ;;
esac
