#!/usr/bin/env bash
# Checks hack/vm-run itself: devices and C rping on rxe and siw, environment, the
# shared writable folder, exit status, the hard timeout, and a kernel that cannot boot.
# A guest that ends and one that must be killed cannot be the same boot: the hung one
# sits out its timeout while the first one runs.
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh

fail() {
	echo "testbed-selftest: FAIL: $*" >&2
	exit 1
}
mkdir -p "$CACHE/runs"
out=$(mktemp -d "$CACHE/runs/selftest.XXXXXX")

# 2 starts first, in the background: the hard timeout kills a guest that never ends.
(
	start=$SECONDS rc=0
	hack/vm-run -t 25 -o "$out/hung" -- sleep 3600 2>"$out/timeout.err" || rc=$?
	echo "$rc $((SECONDS - start))" >"$out/hung.result"
) &

# 1. One boot: C rping on both devices, -e, the out folder, exit status 7.
set +e
hack/vm-run -t 180 -o "$out" -e SELFTEST_VALUE='a b$c' -- bash -c '
	set -e
	for a in "$RDMA_RXE_ADDR" "$RDMA_SIW_ADDR"; do
		timeout 30 rping -s -a "$a" -C 5 -V &
		# The client goes once the server listens (a fixed pause loses
		# the race while the other guest of this script boots).
		for _ in $(seq 200); do
			rdma resource show cm_id | grep -q "state LISTEN .*comm rping src-addr $a:" && break
			sleep 0.1
		done
		timeout 30 rping -c -a "$a" -C 5 -V
		wait $!
		echo "rping ok on $a"
	done
	rdma link show >"$RDMA_VM_OUT/links"
	printf "%s\n" "$SELFTEST_VALUE" >"$RDMA_VM_OUT/value"
	exit 7'
rc=$?
set -e
[ "$rc" = 7 ] || fail "exit status 7 came back as $rc"
grep -q "rxe0/1 state ACTIVE .*netdev veth0" "$out/links" || fail "rxe0 on veth0 missing: $(cat "$out/links")"
grep -q "siw0/1 state ACTIVE .*netdev veth1" "$out/links" || fail "siw0 on veth1 missing: $(cat "$out/links")"
[ "$(cat "$out/value")" = 'a b$c' ] || fail "-e value came back as '$(cat "$out/value")'"
echo "testbed-selftest: rping on rxe0 and siw0, environment, out folder, exit status: ok"

# 2. The hung guest.
wait
read -r rc took <"$out/hung.result"
[ "$rc" = 124 ] || fail "a hung guest gave exit status $rc, want 124"
[ "$took" -lt 60 ] || fail "the 25 s timeout took $took s"
echo "testbed-selftest: hung guest killed after $took s: $(head -n1 "$out/timeout.err")"

# 3. A kernel that cannot boot fails at once with one clear line.
set +e
RDMA_VM_KERNEL=$REPO/go.mod hack/vm-run -t 60 -o "$out/badkernel" -- true 2>"$out/badkernel.err"
rc=$?
set -e
[ "$rc" = 125 ] || fail "a bad kernel gave exit status $rc, want 125"
echo "testbed-selftest: bad kernel: $(head -n1 "$out/badkernel.err")"
rm -rf "$out"
echo "testbed-selftest: ok"
