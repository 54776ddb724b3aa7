#!/usr/bin/env bash
# The README's first command: rping-go server and client against each other.
# On a host with an RDMA device (rdma link show lists one) it runs natively on that
# device's address (RDMA_TEST_ADDR, or the first IPv4 address of its netdev);
# otherwise it boots the test guest and runs on soft-RoCE (rxe) and soft-iWARP (siw).
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh

go_check
hack/setup.sh >/dev/null
mkdir -p "$CACHE/bin"
go build -o "$CACHE/bin/rping-go" ./cmd/rping-go
export RPING_GO=$CACHE/bin/rping-go

# One server and one client on the address in the variable named $1, port $2; the
# client waits until the server listens (rdma resource show cm_id) and pings 10
# times, validated. Ten pings take well under a second: a run still going after 60 s
# has hung, and both programs are stopped with SIGQUIT, which prints their goroutines,
# next to rdma_cm's identifiers. A failed pair is run once more, on the next port: siw
# on a loaded host has been seen (once in about 30 runs) to reset the client's
# connection that the server had just accepted; the failure stays in the output.
demo='
set -eu
addr=${!1}
pair() {
	port=$1
	echo "\$ rping-go -s -a $addr -p $port -V &"
	"$RPING_GO" -s -a "$addr" -p "$port" -V &
	server=$!
	for _ in $(seq 100); do
		rdma resource show cm_id 2>/dev/null | grep -q "state LISTEN .* src-addr $addr:$port " && break
		sleep 0.1
	done
	echo "\$ rping-go -c -a $addr -p $port -C 10 -V -v"
	if ! timeout -s QUIT 60 "$RPING_GO" -c -a "$addr" -p "$port" -C 10 -V -v; then
		echo "rping-go client failed; rdma_cm identifiers:"
		rdma resource show cm_id || true
		kill -QUIT $server 2>/dev/null || true
		wait $server || true
		return 1
	fi
	wait $server
}
pair $2 || { echo "once more:"; pair $(($2 + 1)); }
'

native=$(rdma link show 2>/dev/null | awk '{ print $2; exit }' || true)
if [ -n "$native" ]; then
	dev=${native%/*}
	addr=${RDMA_TEST_ADDR:-}
	if [ -z "$addr" ]; then
		netdev=$(rdma link show "$native" | sed -n 's/.* netdev \([^ ]*\).*/\1/p' || true)
		[ -n "$netdev" ] || die "$dev has no netdev: set RDMA_TEST_ADDR"
		addr=$(ip -4 -o addr show dev "$netdev" | awk '{ sub("/.*", "", $4); print $4; exit }' || true)
	fi
	[ -n "$addr" ] || die "$dev: no IPv4 address (set RDMA_TEST_ADDR)"
	echo "== rping-go on $dev ($addr), natively"
	DEMO_ADDR=$addr bash -c "$demo" demo DEMO_ADDR 7174
	exit
fi

# The guest sees the binary in a run folder of its own: the host's /tmp, where
# RDMA_CACHE may be, is a fresh tmpfs there.
mkdir -p "$CACHE/runs"
out=$(mktemp -d "$CACHE/runs/demo.XXXXXX")
cp "$RPING_GO" "$out/rping-go"
export RPING_GO=$out/rping-go
for transport in rxe siw; do
	echo "== rping-go on $transport, in the test guest (this host has no RDMA device)"
	hack/vm-run -t 300 -o "$out" -e RPING_GO -- bash -c "$demo" demo "RDMA_${transport^^}_ADDR" 7174 ||
		die "rping-go demo failed on $transport (the guest's console log: $out/.testbed/console.log)"
done
rm -rf "$out"
