# Common settings for the test-bed scripts; sourced, not run.
# shellcheck shell=bash

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
# Everything downloaded or built lives here (ignored by git). Override with RDMA_CACHE.
CACHE=${RDMA_CACHE:-$REPO/.cache}
TESTBED=$CACHE/testbed
# go_new_enough: the go on PATH is new enough for go.mod (Go 1.26 or later), after the
# toolchain switch GOTOOLCHAIN allows.
go_new_enough() {
	local v
	v=$(go env GOVERSION 2>/dev/null) && [[ $v =~ ^go1\.([0-9]+) ]] && [ "${BASH_REMATCH[1]}" -ge 26 ]
}
# Go: the one on PATH when it is new enough itself, else go.dev's tarball in
# /usr/local/go (Debian's golang-go is older than go.mod allows).
if [ "${RDMA_VM:-}" = 1 ] || ! GOTOOLCHAIN=local go_new_enough; then
	export PATH=/usr/local/go/bin:$PATH
fi
export PATH=$PATH:/usr/sbin:/sbin
# Go's module downloads and build cache too, and staticcheck's, on the host (the
# guest has its own GOCACHE in its /tmp and downloads nothing); -modcacherw lets
# rm -rf remove them.
if [ "${RDMA_VM:-}" != 1 ]; then
	export GOMODCACHE=${GOMODCACHE:-$CACHE/go/mod} GOCACHE=${GOCACHE:-$CACHE/go/build}
	export STATICCHECK_CACHE=${STATICCHECK_CACHE:-$CACHE/staticcheck}
	# The user's GOFLAGS, from the environment or go env -w, kept.
	goflags=${GOFLAGS-$(command -v go >/dev/null && go env GOFLAGS || true)}
	case " $goflags " in *" -modcacherw "*) ;; *) goflags="-modcacherw${goflags:+ $goflags}" ;; esac
	export GOFLAGS=$goflags
	unset goflags
fi

# go_check: a Go new enough for go.mod on PATH, or a clear error.
go_check() {
	command -v go >/dev/null || die "go not found: install Go 1.26 or later in /usr/local/go (https://go.dev/dl/)"
	go_new_enough ||
		die "$(command -v go) is $(go env GOVERSION); go.mod needs Go 1.26 or later (https://go.dev/dl/, in /usr/local/go)"
}

die() {
	echo "${0##*/}: $*" >&2
	exit 1
}

# Debian packages the bed and the project's builds need (installed without their
# recommendations: gcc's libc6-dev, the C headers cgo needs, is named). The kernel
# headers package is added by setup.sh when it builds siw.ko.
TESTBED_PACKAGES=(
	qemu-system-x86 busybox-static kmod cpio xz-utils make gcc libc6-dev ca-certificates
	libibverbs-dev librdmacm-dev rdma-core ibverbs-providers
	rdmacm-utils perftest ibverbs-utils iproute2 jq
)

# Modules the guest loads, by name; setup.sh expands them to insmod order.
# crc32_generic is needed by rdma_rxe, which asks the crypto API for "crc32"
# by name, so no module dependency pulls it in.
GUEST_MODULES=(
	crc32_generic virtio_pci 9pnet_virtio 9p veth
	configfs ib_uverbs rdma_ucm rdma_rxe crc32c_generic siw
)

# check_test_run TRANSPORT PACKAGE LOG LIMITATIONS RC: the verdict on one run of a test
# binary in the guest (hack/vm-exec, hack/vm-test), from its exit status RC and its -test.v
# output LOG: RC, or 1 when a test skipped without being listed in the LIMITATIONS file
# that internal/testbed.Limitation writes. With RDMA_TEST_SUMMARY set, appends the line
# "TRANSPORT PACKAGE passed failed skipped rc=N" (tests and subtests) to that file.
check_test_run() {
	local transport=$1 pkg=$2 log=$3 limitations=$4 rc=$5 skipped allowed bad counts='' v
	# Test names of every "--- SKIP: Name (0.00s)" line, subtests included.
	skipped=$(sed -n 's/^[[:space:]]*--- SKIP: \([^ ]*\) .*/\1/p' "$log" | sort -u)
	allowed=$(sort -u "$limitations" 2>/dev/null || true)
	bad=$(comm -23 <(echo "$skipped" | sed '/^$/d') <(echo "$allowed" | sed '/^$/d'))
	if [ -n "$bad" ]; then
		echo "${0##*/}: $transport $pkg: tests skipped inside the test VM without a transport limitation: ${bad//$'\n'/ }" >&2
		[ "$rc" != 0 ] || rc=1
	fi
	if [ -n "${RDMA_TEST_SUMMARY:-}" ]; then
		for v in PASS FAIL SKIP; do
			counts+=" $(grep -c "^[[:space:]]*--- $v: " "$log" || true)"
		done
		echo "$transport $pkg$counts rc=$rc" >>"$RDMA_TEST_SUMMARY"
	fi
	return "$rc"
}
