#!/usr/bin/env bash
# Benchmarks the Go binding against the C tools, side by side in one guest:
# on rxe and on siw, each C tool (ib_write_bw -R, ib_send_lat -R,
# ib_write_lat -R, ib_read_lat -R, rdmacm-utils cmtime) and cmd/rdma-perf
# with the same parameters, alternating C and Go for several rounds, then a
# markdown table of the medians and the Go/C ratios.
#
#   hack/bench.sh [-r ROUNDS] [-o DIR] [-m | -g | -a]
#   hack/bench.sh -t DIR    # the table of an earlier run, again
#
# -m runs the C tools with hack/monitor-thread.c preloaded: a thread in each
# C process that wakes every 10 ms, as the Go runtime's monitor thread does
# in each Go process; the table then tells the binding's own cost from what
# the runtime's wake-ups cost under emulation (BENCHMARKS.md, "write_bw and
# the tails: the monitor thread's wake-ups").
#
# -g builds rdma-perf with a copy of the local Go toolchain whose monitor
# thread sleeps up to 1 s between its checks instead of 10 ms (one line of
# runtime/proc.go, patched in $RDMA_CACHE/goroot-sysmon): the other way round,
# the Go side without most of those wake-ups (BENCHMARKS.md, "Go with the
# monitor thread's tick at 1 s").
#
# -a runs the C tools in Go's place too, C against C by the same method: the
# table then shows how far the host's noise alone moves a median ratio and
# the "behind" counts (BENCHMARKS.md, "C against C").
#
# The guest boots once (hack/vm-run, for at most 600 s and 300 s a round); every
# command has a bounded timeout.
# Raw outputs, results.tsv and the binaries run land in DIR (default
# $RDMA_CACHE/bench, .cache/bench).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
. "$here/lib.sh"

if [[ ${1:-} == --guest ]]; then
	# A failed run is recorded as NA; the others go on.
	set +e +o pipefail
	rounds=$2
	# The C tools' command prefix: nothing, or the monitor thread (-m).
	cpre=()
	[[ -n ${3:-} ]] && cpre=(env "LD_PRELOAD=$3")
	# -a: the C tools run in Go's place too.
	aa=${4:-}
	out=$RDMA_VM_OUT
	perf=$out/bin/rdma-perf
	mkdir -p "$out/raw"
	results=$out/results.tsv
	: >"$results"
	printf %s "${cpre[*]}" >"$out/c-prefix"
	# The rate perftest turns cycles into time with, when its measurement
	# agrees within 2 % (rdma-perf prints the rate it took as cpu_mhz).
	grep -m1 'cpu MHz' /proc/cpuinfo >"$out/cpu-mhz"

	# The guest reads the host's root over 9p without a cache (vm-run): a
	# file's pages leave memory with the last process that has it open, so
	# each run would read its binary and libraries from the host again, a
	# 4.8 MB Go binary against C tools of some 100 KB (BENCHMARKS.md,
	# "Binaries read over 9p"). Holding them open keeps their pages in the
	# guest's page cache, as a machine's disk cache would, for both tools.
	hold=("$perf" $(command -v ib_write_bw ib_send_lat ib_write_lat ib_read_lat cmtime) ${3:+"$3"})
	hold+=($(ldd "${hold[@]}" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u)
		/usr/lib/x86_64-linux-gnu/libibverbs/lib{rxe,siw}-rdmav*.so)
	for f in "${hold[@]}"; do
		exec {fd}<"$f"
	done
	echo "held open: ${hold[*]}" >"$out/held"

	# record DEV TEST METRIC TOOL ROUND VALUE
	record() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$results"; }

	# pair FILE SERVER-WAIT SERVER-CMD... -- CLIENT-CMD...: runs pair_once,
	# and once more, server and client, when the client failed (as perftest's
	# ib_write_lat once did: rejected by a server not yet listening, then
	# hung on its retry until the timeout) or was perftest and gave no figure
	# because it could not measure the CPU's clock against the wall clock
	# ("Correlation coefficient r^2: … < 0.9", a slow moment of the guest):
	# ib_write_bw then fails, the latency tools print inf. A figure is
	# kept whatever that line says: a second try only for C's slow moments
	# would favour C. The first output is kept as FILE.noclock or
	# FILE.failed.
	pair() {
		pair_once "$@"
		local why
		if grep -q 'Correlation coefficient' "$1" && grep -qw inf "$1"; then
			why=noclock
		elif grep -q '^exit status' "$1"; then
			why=failed
		else
			return 0
		fi
		mv "$1" "$1.$why"
		mv "$1.server" "$1.$why.server"
		pair_once "$@"
	}

	# pair_once FILE SERVER-WAIT SERVER-CMD... -- CLIENT-CMD...: runs a server
	# in the background and the client against it, both bounded. A client
	# that finds no server yet (a loaded guest starts it late) tries again;
	# a server still up 10 s after its client is killed.
	pair_once() {
		local file=$1 pause=$2
		shift 2
		local srv=()
		while [[ $1 != -- ]]; do
			srv+=("$1")
			shift
		done
		shift
		timeout 90 "${srv[@]}" >"$file.server" 2>&1 &
		local pid=$! try st
		sleep "$pause"
		for try in 1 2 3; do
			timeout 60 "$@" >"$file" 2>&1
			st=$?
			((st == 0)) && break
			echo "exit status $st" >>"$file"
			kill -0 "$pid" 2>/dev/null || break
			grep -qiE 'refused|reject|unexpected cm event|service id' "$file" || break
			cp "$file" "$file.try$try"
			sleep 1
		done
		for try in $(seq 20); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.5
		done
		kill "$pid" 2>/dev/null
		wait "$pid" || echo "server exit status $?" >>"$file.server"
	}

	# C tool outputs: perftest's result line follows its header. Its
	# bandwidth has two decimals (0.02 MB/s at 2 B): it is computed from
	# the message rate (six decimals) and the size S, as perftest's own is.
	c_bw() { awk -v s="$2" '/#bytes.*BW average/ {getline; printf "%.6g %s\n", $5 * s * 1e6 / 1048576, $5; exit}' "$1"; }
	c_lat() { awk '/#bytes.*t_typical/ {getline; print $5, $8; exit}' "$1"; }
	go_bw() { jq -r 'select(.mode=="write_bw") | "\(.bw_avg_MBps) \(.msg_rate_Mpps)"' "$1" 2>/dev/null | head -1; }
	go_lat() { jq -r 'select(.t_typical_us) | "\(.t_typical_us) \(.p99_us)"' "$1" 2>/dev/null | head -1; }

	bw_sizes=(2 1024 65536)
	for dev in rxe siw; do
		# cmtime's default of 100 connections; siw maps only about 144
		# pages of queues per process, which 100 connections outgrow in
		# both tools (C: 29 of 100 fail), so it makes 40.
		if [[ $dev == rxe ]]; then
			ibdev=$RDMA_RXE_DEV addr=$RDMA_RXE_ADDR conns=100
		else
			ibdev=$RDMA_SIW_DEV addr=$RDMA_SIW_ADDR conns=40
		fi
		for ((r = 1; r <= rounds; r++)); do
			# Alternate which goes first from round to round.
			order=(c go)
			((r % 2 == 0)) && order=(go c)
			# Runs of half a second or more, so that the first writes (code
			# that TCG translates then) weigh little in the rate.
			for s in "${bw_sizes[@]}"; do
				n=20000
				((s >= 65536)) && n=1000
				args=(-s "$s" -n "$n" -t 128 -l 1 -Q 100)
				for tool in "${order[@]}"; do
					f=$out/raw/$dev-write_bw-$s-$tool-$r
					if [[ $tool == c || -n $aa ]]; then
						pair "$f" 1.5 "${cpre[@]}" ib_write_bw -R -d "$ibdev" "${args[@]}" -- "${cpre[@]}" ib_write_bw -R -d "$ibdev" "${args[@]}" "$addr"
						v=$(c_bw "$f" "$s")
					else
						pair "$f" 1.5 "$perf" -- "$perf" write_bw "${args[@]}" --json "$addr"
						v=$(go_bw "$f")
					fi
					read -r bw rate <<<"${v:-NA NA}"
					record "$dev" "write_bw $s B" "BW MB/s" "$tool" "$r" "$bw"
					record "$dev" "write_bw $s B" "Mpps" "$tool" "$r" "$rate"
				done
			done
			for mode in send_lat write_lat read_lat; do
				args=(-s 2 -n 5000)
				[[ $mode != read_lat ]] && args+=(-I 0)
				for tool in "${order[@]}"; do
					f=$out/raw/$dev-$mode-$tool-$r
					if [[ $tool == c || -n $aa ]]; then
						pair "$f" 1.5 "${cpre[@]}" "ib_$mode" -R -d "$ibdev" "${args[@]}" -- "${cpre[@]}" "ib_$mode" -R -d "$ibdev" "${args[@]}" "$addr"
						v=$(c_lat "$f")
					else
						pair "$f" 1.5 "$perf" -- "$perf" "$mode" "${args[@]}" --json "$addr"
						v=$(go_lat "$f")
					fi
					read -r typ p99 <<<"${v:-NA NA}"
					record "$dev" "$mode 2 B" "typical us" "$tool" "$r" "$typ"
					record "$dev" "$mode 2 B" "p99 us" "$tool" "$r" "$p99"
				done
			done
			for tool in "${order[@]}"; do
				f=$out/raw/$dev-cmtime-$tool-$r
				if [[ $tool == c || -n $aa ]]; then
					pair "$f" 1.5 "${cpre[@]}" cmtime -b "$addr" -c "$conns" -- "${cpre[@]}" cmtime -s "$addr" -b "$addr" -c "$conns"
					# rdma-perf resolves the address and the route in one
					# call: the C steps are summed to compare. Each C step
					# is also the reference of Go's second pass (with -a
					# there is none: C against C has no such rows).
					awk -v dev="$dev" -v r="$r" -v tool="$tool" -v aa="$aa" -F: '
						/^(create id|bind addr|resolve addr|resolve route|create qp|connect|disconnect|destroy) *:/ {
							name = $1; sub(/ +$/, "", name); split($2, v, " ")
							if (name ~ /^resolve/) { res += v[4]; nres++; if (nres < 2) next; name = "resolve addr+route"; v[4] = res }
							printf "%s\tcmtime %s\tus/conn\t%s\t%s\t%s\n", dev, name, tool, r, v[4]
							if (aa == "")
								printf "%s\tcmtime %s, Go 2nd pass\tus/conn\t%s\t%s\t%s\n", dev, name, tool, r, v[4]
							if (name ~ /^(create id|bind addr|create qp|destroy)$/)
								printf "%s\tcmtime %s\tfastest us\t%s\t%s\t%s\n", dev, name, tool, r, v[3]
						}' "$f" >>"$results"
				else
					# Two passes: the first against C's, the second (code
					# and memory already brought in) as a long-running
					# program would see it.
					pair "$f" 1.5 "$perf" -b "$addr" -- "$perf" cmtime -c "$conns" -n 2 -b "$addr" --json "$addr"
					jq -r --arg dev "$dev" --arg r "$r" '(if .pass > 1 then ", Go 2nd pass" else "" end) as $p |
						.pass as $pass | .steps[]? |
						"\($dev)\tcmtime \(.step)\($p)\tus/conn\tgo\t\($r)\t\(.us_per_conn)",
						(select($pass == 1 and (.step | test("^(create id|bind addr|create qp|destroy)$"))) |
							"\($dev)\tcmtime \(.step)\tfastest us\tgo\t\($r)\t\(.min_us)")' \
						"$f" >>"$results" 2>/dev/null || true
				fi
			done
		done
	done
	exit 0
fi

# sysmon_goroot prints a fresh copy of the local Go toolchain whose runtime's
# monitor thread (sysmon) sleeps up to 1 s between its checks, not 10 ms.
sysmon_goroot() {
	local src dst=$CACHE/goroot-sysmon proc
	src=$(go env GOROOT)
	rm -rf "$dst"
	cp -a "$src" "$dst"
	proc=$dst/src/runtime/proc.go
	sed -i 's|^\(\t\tif delay > \)10\*1000 { // up to 10ms$|\11000*1000 { // up to 1 s (hack/bench.sh -g)|
		s|^\(\t\t\tdelay = \)10 \* 1000$|\11000 * 1000|' "$proc"
	[[ $(grep -cP '^\t\tif delay > 1000\*1000 \{|^\t\t\tdelay = 1000 \* 1000$' "$proc") == 2 ]] ||
		die "sysmon's 10 ms sleep not found in $proc (the patch follows Go 1.26's sysmon)"
	echo "$dst"
}

# Each tool goes first in half the rounds: an even number of them.
rounds=4
out=$CACHE/bench
run=1
monitor=
goroot=
aa=
while getopts r:o:t:mga opt; do
	case $opt in
	r)
		rounds=$OPTARG
		((rounds > 0 && rounds % 2 == 0)) || die "-r $rounds: an even number of rounds, so that each tool goes first in half of them"
		;;
	m) monitor=1 ;;
	g) goroot=1 ;;
	a) aa=1 ;;
	o) out=$OPTARG ;;
	t) out=$OPTARG run= ;;
	*)
		echo "usage: hack/bench.sh [-r ROUNDS] [-o DIR] [-m | -g | -a] | -t DIR" >&2
		exit 2
		;;
	esac
done
[[ $monitor$goroot$aa == 1?* ]] && die "-m, -g and -a are different comparisons: give one"
if [[ -n $run ]]; then
	mkdir -p "$out/bin"
	out=$(cd "$out" && pwd)
	if [[ -n $goroot ]]; then
		goroot=$(sysmon_goroot)
		(cd "$root" && GOTOOLCHAIN=local GOROOT=$goroot "$goroot/bin/go" build -o "$out/bin/rdma-perf" ./cmd/rdma-perf)
		echo "Go, monitor thread's tick 1 s" >"$out/go-label"
	else
		# With -a too: held open in the guest as in the runs it stands beside.
		(cd "$root" && go build -o "$out/bin/rdma-perf" ./cmd/rdma-perf)
		rm -f "$out/go-label"
		if [[ -n $aa ]]; then
			echo "C again" >"$out/go-label"
		fi
	fi
	so=
	if [[ -n $monitor ]]; then
		so=$out/bin/monitor-thread.so
		gcc -O2 -Wall -shared -fPIC -o "$so" "$here/monitor-thread.c" -pthread
	fi
	"$here/vm-run" -t $((600 + 300 * rounds)) -o "$out" -- bash "$here/bench.sh" --guest "$rounds" "$so" "$aa"
fi

# One row per device, test and metric: the medians of each tool over the
# rounds, their Go/C ratio, the range of the ratios of the rounds in which
# both tools ran (how far the host's noise moves a ratio), and in how many
# of those rounds Go did worse than C (a sign test: 7 of 7 happens by
# chance once in 128 when neither is faster). A value
# that is not a number (perftest prints "inf" when it could not measure
# the CPU's clock) counts as a failed run.
# With -m, "C" is the C tools with the monitor thread; with -g, "Go" is
# rdma-perf built with the patched runtime; with -a, "Go" is the C tools.
c=C
[[ -s $out/c-prefix ]] && c="C + monitor thread"
g=Go
[[ -s $out/go-label ]] && g=$(cat "$out/go-label")
b=Go
[[ $g == "C again" ]] && b=$g
echo "| device | test | metric | $c (median) | $g (median) | $b/C | $b/C per round | $b behind C |"
echo "|---|---|---|---:|---:|---:|---:|---:|"
sort -t$'\t' -k1,1 -k2,2V -k3,3 "$out/results.tsv" | awk -F'\t' '
	function median(a, n,   i, j, t) {
		for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
		return n == 0 ? "NA" : n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	$6 ~ /^[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?$/ {
		row = $1 SUBSEP $2 SUBSEP $3
		if (!(row in seen)) { seen[row] = 1; rows[++nrows] = row }
		v[row, $4, $5] = $6 + 0; rounds[$5] = 1
	}
	END {
		for (i = 1; i <= nrows; i++) {
			row = rows[i]; nc = ng = 0; lo = hi = ""; paired = behind = 0
			delete cs; delete gs
			split(row, k, SUBSEP)
			higher = k[3] ~ /MB\/s|Mpps/ # a rate: higher is better; a time: lower
			for (r in rounds) {
				hc = (row SUBSEP "c" SUBSEP r) in v; hg = (row SUBSEP "go" SUBSEP r) in v
				if (hc) cs[++nc] = v[row, "c", r]
				if (hg) gs[++ng] = v[row, "go", r]
				if (hc && hg && v[row, "c", r] != 0) {
					q = v[row, "go", r] / v[row, "c", r]
					if (lo == "" || q < lo) lo = q
					if (hi == "" || q > hi) hi = q
					paired++
					if (higher ? q < 1 : q > 1) behind++
				}
			}
			c = median(cs, nc); g = median(gs, ng)
			ratio = (c == "NA" || g == "NA" || c == 0) ? "NA" : sprintf("%.3f", g / c)
			span = lo == "" ? "NA" : sprintf("%.2f–%.2f", lo, hi)
			printf "| %s | %s | %s | %s | %s | %s | %s | %d of %d |\n", k[1], k[2], k[3], c, g, ratio, span, behind, paired
		}
	}'
