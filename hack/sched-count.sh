#!/usr/bin/env bash
# Counts what the Go runtime's scheduler does in rdma-perf's two processes
# during one run, beside the run's result: the monitor thread's (sysmon)
# wake-ups, its retake passes, the preemptions it asks for, the processors it
# takes from calls into C, the threads started and stopped, and the context
# switches (BENCHMARKS.md, "The monitor thread, counted"). Uprobes on the
# runtime's functions, in the test-bed guest.
#
#   hack/sched-count.sh [-o DIR] [-a "RDMA-PERF ARGS"]... [BINARY]
#
# BINARY is an rdma-perf build (default: built from the working tree). Each
# -a is one run's mode and options, run once on rxe and once on siw (default:
# "write_bw -s 2 -n 20000 -t 128 -l 1 -Q 100" and the same at 64 KiB with
# -n 1000). Needs perf on the host (Debian's linux-perf): the guest runs the
# host's binaries. Raw outputs land in DIR (default $RDMA_CACHE/sched-count).

set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

# The runtime functions counted, by column.
probes=(retake preemptone handoffp startm stopm)

if [[ ${1:-} == --guest ]]; then
	set +e +o pipefail
	out=$RDMA_VM_OUT
	mapfile -t runs <"$out/runs"
	# The probes go on a copy in the guest's own /tmp (tmpfs), not on the
	# host's file over 9p.
	bin=/tmp/rdma-perf
	cp "$out/bin/rdma-perf" "$bin"
	mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null
	echo -1 >/proc/sys/kernel/perf_event_paranoid
	events=()
	for p in "${probes[@]}"; do
		perf probe -q -x "$bin" "$p=runtime.$p" || exit 1
		events+=(-e "probe_rdma:$p")
	done
	events+=(-e syscalls:sys_enter_nanosleep -e context-switches)
	: >"$out/counts.tsv"
	i=0
	for run in "${runs[@]}"; do
		for dev in rxe siw; do
			i=$((i + 1))
			if [[ $dev == rxe ]]; then addr=$RDMA_RXE_ADDR; else addr=$RDMA_SIW_ADDR; fi
			f=$out/raw/$i
			"$bin" >"$f.server" 2>&1 &
			spid=$!
			sleep 1.5
			perf stat -x $'\t' -p "$spid" "${events[@]}" -o "$f.server-stat" &
			sstat=$!
			# shellcheck disable=SC2086 # run is a list of arguments
			timeout 120 perf stat -x $'\t' "${events[@]}" -o "$f.client-stat" -- "$bin" $run --json "$addr" >"$f" 2>&1
			kill -INT "$sstat"
			wait "$sstat"
			kill "$spid" 2>/dev/null
			wait "$spid"
			for side in client server; do
				printf '%s\t%s\t%s\t%s\n' "$dev" "$run" "$side" \
					"$(awk -F'\t' '$3 ~ /probe_rdma:|nanosleep|context-switches/ {sub(/.*:/, "", $3); printf "%s=%s ", $3, $1}' "$f.$side-stat")" >>"$out/counts.tsv"
			done
			printf '%s\t%s\tresult\t%s\n' "$dev" "$run" "$(jq -c 'del(.mode)' "$f" 2>/dev/null | head -1)" >>"$out/counts.tsv"
		done
	done
	exit 0
fi

out=$CACHE/sched-count
runs=()
usage() {
	echo "usage: hack/sched-count.sh [-o DIR] [-a \"RDMA-PERF ARGS\"]... [BINARY]" >&2
	exit 2
}
while getopts o:a: opt; do
	case $opt in
	o) out=$OPTARG ;;
	a) runs+=("$OPTARG") ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
(($# <= 1)) || usage
((${#runs[@]})) || runs=("write_bw -s 2 -n 20000 -t 128 -l 1 -Q 100" "write_bw -s 65536 -n 1000 -t 128 -l 1 -Q 100")
command -v perf >/dev/null || die "perf not found: apt install linux-perf (the guest runs the host's perf)"
mkdir -p "$out/bin" "$out/raw"
out=$(cd "$out" && pwd)
if (($# == 1)); then
	cp "$1" "$out/bin/rdma-perf"
else
	go_check
	(cd "$REPO" && go build -o "$out/bin/rdma-perf" ./cmd/rdma-perf)
fi
printf '%s\n' "${runs[@]}" >"$out/runs"
"$here/vm-run" -t $((300 + 120 * ${#runs[@]})) -o "$out" -- bash "$here/sched-count.sh" --guest

echo "| device | run | process | monitor wake-ups (nanosleep) | retake passes | preemptions asked | processors taken (handoffp) | startm | stopm | context switches |"
echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"
awk -F'\t' -v probes="${probes[*]}" '
	$3 == "result" { next }
	{
		delete c
		n = split($4, kv, " ")
		for (i = 1; i <= n; i++) { split(kv[i], p, "="); c[p[1]] = p[2] }
		line = "| " $1 " | " $2 " | " $3 " | " c["sys_enter_nanosleep"]
		m = split(probes, pr, " ")
		for (i = 1; i <= m; i++) line = line " | " c[pr[i]]
		print line " | " c["context-switches"] " |"
	}' "$out/counts.tsv"
echo
echo "| device | run | result |"
echo "|---|---|---|"
awk -F'\t' '$3 == "result" { print "| " $1 " | " $2 " | `" $4 "` |" }' "$out/counts.tsv"
