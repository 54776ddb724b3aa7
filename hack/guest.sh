#!/usr/bin/env bash
# Runs inside the test-bed guest, chrooted into the host's root (see initramfs-init):
# creates the soft-RDMA devices, loads what hack/vm-run wrote into the run folder
# (environment, working directory, command), runs the command and writes its exit
# status back to the run folder. Output between the two markers is the command's.
run=$1
meta=$run/.testbed
stty -onlcr 2>/dev/null
export PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/tmp GOCACHE=/tmp/go-cache GOTMPDIR=/tmp TMPDIR=/tmp
export RDMA_VM=1 RDMA_VM_OUT=$run

# shellcheck source=/dev/null
. "$meta/env"
if ! out=$(bash "$(dirname "$0")/rdma-devices.sh" up 2>&1); then
	echo "testbed-guest: device set-up failed: $out"
	echo 125 >"$meta/rc"
	exit
fi
# The devices' names, and with RDMA_TEST_TRANSPORT=rxe|siw the device under test.
if ! vars=$(bash "$(dirname "$0")/rdma-devices.sh" env ${RDMA_TEST_TRANSPORT:+"$RDMA_TEST_TRANSPORT"} 2>&1); then
	echo "testbed-guest: $vars"
	echo 125 >"$meta/rc"
	exit
fi
eval "$vars"

cd "$(cat "$meta/cwd")" 2>/dev/null || cd "$(dirname "$0")/.." || exit
echo "@@testbed-begin@@"
bash "$meta/cmd" </dev/null
rc=$?
echo "@@testbed-end@@"
echo "$rc" >"$meta/rc"
sync
