#!/usr/bin/env bash
# The project's test command (README.md): prepares the test bed, checks formatting,
# vet and staticcheck, runs every package's tests natively (device tests skip there), checks the
# bed itself, then runs every package's tests inside a soft-RDMA guest, on rxe and
# on siw (hack/vm-test), once as built and once with the race detector, and prints the
# counts per transport.
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh
start=$SECONDS
# phase NAME: prints the time since the start, then the phase's header.
phase() { echo "== [$((SECONDS - start)) s] $*"; }

go_check
hack/setup.sh

phase "gofmt, go vet, staticcheck"
mapfile -t gofiles < <(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*')
bad=$(gofmt -l "${gofiles[@]}")
[ -z "$bad" ] || die "gofmt would change: $bad"
go vet ./...
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

phase "native: go test ./... (device tests skip outside the test bed)"
go test -count=1 ./...
go test -count=1 -race ./internal/fdwait/ ./rdmacm/ ./cmd/rping-go/

# A count, not a duration: Go 1.26's fuzz coordinator can report a spurious
# "context deadline exceeded" when a -fuzztime duration ends (go.dev/issue/75804).
phase "fuzz: private data framing, address parsing, rping wire messages (100000 inputs each)"
for target in FuzzPrivateDataRoundTrip:./rdmacm/ FuzzDecode:./rdmacm/ FuzzResolve:./rdmacm/ FuzzRDMAInfo:./cmd/rping-go/; do
	go test -run '^$' -fuzz "^${target%%:*}\$" -fuzztime 100000x "${target#*:}"
done

phase "test bed self-test"
ci/testbed-selftest.sh

mkdir -p "$CACHE/runs"
summary=$(mktemp "$CACHE/runs/summary.XXXXXX")
status=0
# One guest for every package on both transports (two guests side by side take as
# long on two cores: the emulation is CPU-bound).
phase "in the guest on rxe and siw: hack/vm-test ./..."
RDMA_TEST_SUMMARY=$summary hack/vm-test -x rxe,siw ./... || status=1

# The same tests built with the race detector, in a second guest: the device
# tests are where goroutines meet C's events (readers of rdma_cm channels,
# completion channels, Close racing waits), and the native run skips them.
race=$(mktemp "$CACHE/runs/summary.XXXXXX")
phase "in the guest on rxe and siw, race detector: GOFLAGS=-race hack/vm-test ./..."
GOFLAGS=-race RDMA_TEST_SUMMARY=$race hack/vm-test -x rxe,siw ./... || status=1

phase "device tests per transport (tests and subtests; skips are transport limitations)"
total_pass=0 total_fail=0 total_skip=0
# count NAME SUMMARY TRANSPORT: prints and adds up one transport's line.
count() {
	local p f s n
	read -r p f s n < <(awk -v t="$3" '$1 == t { p += $3; f += $4; s += $5; n++ } END { print p+0, f+0, s+0, n+0 }' "$2")
	if [ "$n" = 0 ] || [ "$p" = 0 ]; then
		echo "$1: no test ran in the guest"
		status=1
	fi
	echo "$1: $p passed, $f failed, $s skipped ($n packages)"
	total_pass=$((total_pass + p)) total_fail=$((total_fail + f)) total_skip=$((total_skip + s))
}
for transport in rxe siw; do
	count "$transport" "$summary" "$transport"
	count "$transport -race" "$race" "$transport"
done
rm -f "$summary" "$race"
echo "test command took $((SECONDS - start)) s"
echo "total: $total_pass passed, $total_fail failed, $total_skip skipped"
exit $status
