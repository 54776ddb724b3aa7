#!/usr/bin/env bash
# A/B of two builds of cmd/rdma-perf, side by side with the C tool, in one
# guest: what a change of the binding or of rdma-perf does to one row of
# hack/bench.sh's table, with the host's noise shared by the three.
#
#   hack/bench-ab.sh [-r ROUNDS] [-o DIR] [-m MODE] [-s SIZE] COMMIT
#
# A is rdma-perf built at COMMIT, B the one of the working tree, C the
# perftest tool (ib_MODE -R). MODE is send_lat (default), write_lat,
# read_lat or write_bw; latencies run 2 B (-n 5000), write_bw SIZE bytes
# (default 2; -n 20000, 1000 from 64 KiB; -t 128 -l 1 -Q 100), with
# hack/bench.sh's parameters, on rxe and on siw. ROUNDS (default 12) is a
# multiple of 3: each tool runs first, second and third in a third of them.
# Prints, per device and metric, the medians of C, A and B, A/C and B/C,
# and in how many rounds B did better than A (a sign test: when neither is
# better, 10 or more of 12 happens once in 52 runs, 11 or more once in 315).
# Raw outputs and ab.tsv land in DIR (default $RDMA_CACHE/bench-ab).

set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
. "$here/lib.sh"

if [[ ${1:-} == --guest ]]; then
	set +e +o pipefail
	rounds=$2 mode=$3 size=$4
	out=$RDMA_VM_OUT
	res=$out/ab.tsv
	: >"$res"
	mkdir -p "$out/raw"
	# Held open: their pages stay in the guest's page cache (hack/bench.sh).
	for f in "$out/bin/a" "$out/bin/b" "$(command -v "ib_$mode")"; do
		exec {fd}<"$f"
	done
	if [[ $mode == write_bw ]]; then
		n=20000
		((size >= 65536)) && n=1000
		args=(-s "$size" -n "$n" -t 128 -l 1 -Q 100)
	else
		args=(-s 2 -n 5000)
		[[ $mode != read_lat ]] && args+=(-I 0)
	fi
	for dev in rxe siw; do
		if [[ $dev == rxe ]]; then
			ibdev=$RDMA_RXE_DEV addr=$RDMA_RXE_ADDR
		else
			ibdev=$RDMA_SIW_DEV addr=$RDMA_SIW_ADDR
		fi
		for ((r = 1; r <= rounds; r++)); do
			case $((r % 3)) in
			0) order=(c a b) ;;
			1) order=(a b c) ;;
			2) order=(b c a) ;;
			esac
			for tool in "${order[@]}"; do
				f=$out/raw/$dev-$tool-$r
				if [[ $tool == c ]]; then
					srv=("ib_$mode" -R -d "$ibdev" "${args[@]}")
					cli=("${srv[@]}" "$addr")
				else
					srv=("$out/bin/$tool")
					cli=("$out/bin/$tool" "$mode" "${args[@]}" --json "$addr")
				fi
				timeout 90 "${srv[@]}" >"$f.server" 2>&1 &
				sleep 1.5
				timeout 60 "${cli[@]}" >"$f" 2>&1
				wait
				if [[ $tool == c && $mode == write_bw ]]; then
					v=$(awk '/#bytes.*BW average/ {getline; print $5; exit}' "$f")
				elif [[ $tool == c ]]; then
					v=$(awk '/#bytes.*t_typical/ {getline; print $5, $8; exit}' "$f")
				elif [[ $mode == write_bw ]]; then
					v=$(jq -r 'select(.mode=="write_bw") | .msg_rate_Mpps' "$f" 2>/dev/null | head -1)
				else
					v=$(jq -r 'select(.t_typical_us) | "\(.t_typical_us) \(.p99_us)"' "$f" 2>/dev/null | head -1)
				fi
				read -r x y <<<"${v:-NA NA}"
				if [[ $mode == write_bw ]]; then
					printf '%s\tMpps\t%s\t%s\t%s\n' "$dev" "$tool" "$r" "$x" >>"$res"
				else
					printf '%s\ttypical us\t%s\t%s\t%s\n%s\tp99 us\t%s\t%s\t%s\n' "$dev" "$tool" "$r" "$x" "$dev" "$tool" "$r" "${y:-NA}" >>"$res"
				fi
			done
		done
	done
	exit 0
fi

rounds=12 out=$CACHE/bench-ab mode=send_lat size=2
usage() {
	echo "usage: hack/bench-ab.sh [-r ROUNDS] [-o DIR] [-m send_lat|write_lat|read_lat|write_bw] [-s SIZE] COMMIT" >&2
	exit 2
}
while getopts r:o:m:s: opt; do
	case $opt in
	r) rounds=$OPTARG ;;
	o) out=$OPTARG ;;
	m) mode=$OPTARG ;;
	s) size=$OPTARG ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
(($# == 1)) || usage
((rounds > 0 && rounds % 3 == 0)) || die "-r $rounds: a multiple of 3, so that each tool runs first, second and third equally often"
[[ $mode =~ ^(send_lat|write_lat|read_lat|write_bw)$ ]] || usage
[[ $size =~ ^[1-9][0-9]*$ ]] || usage
commit=$(git -C "$root" rev-parse --verify "$1^{commit}")
mkdir -p "$out/bin"
out=$(cd "$out" && pwd)
src=$(mktemp -d "$CACHE/bench-ab-src.XXXXXX")
trap 'rm -rf "$src"' EXIT
git -C "$root" archive "$commit" | tar -x -C "$src"
(cd "$src" && go build -o "$out/bin/a" ./cmd/rdma-perf)
(cd "$root" && go build -o "$out/bin/b" ./cmd/rdma-perf)
echo "A: rdma-perf at $commit; B: the working tree of $(git -C "$root" rev-parse HEAD); $mode" >"$out/label"
"$here/vm-run" -t $((600 + 60 * rounds)) -o "$out" -- bash "$here/bench-ab.sh" --guest "$rounds" "$mode" "$size"

cat "$out/label"
echo "| device | metric | C | A | B | A/C | B/C | B better than A |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
sort -t$'\t' -k1,2 "$out/ab.tsv" | awk -F'\t' '
	function median(a, n,   i, j, t) {
		for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
		return n == 0 ? "NA" : n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	$5 ~ /^[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?$/ {
		row = $1 SUBSEP $2
		if (!(row in seen)) { seen[row] = 1; rows[++nrows] = row }
		v[row, $3, $4] = $5 + 0; rounds[$4] = 1
	}
	END {
		for (i = 1; i <= nrows; i++) {
			row = rows[i]; split(row, k, SUBSEP)
			higher = k[2] == "Mpps"
			delete m
			split("c a b", names, " ")
			for (j = 1; j <= 3; j++) {
				n = 0; delete vals
				for (r in rounds) if ((row, names[j], r) in v) vals[++n] = v[row, names[j], r]
				m[names[j]] = median(vals, n)
			}
			better = both = 0
			for (r in rounds) if ((row, "a", r) in v && (row, "b", r) in v && v[row, "a", r] != v[row, "b", r]) {
				both++
				if (higher ? v[row, "b", r] > v[row, "a", r] : v[row, "b", r] < v[row, "a", r]) better++
			}
			ac = m["c"] + 0 > 0 && m["a"] != "NA" ? sprintf("%.3f", m["a"] / m["c"]) : "NA"
			bc = m["c"] + 0 > 0 && m["b"] != "NA" ? sprintf("%.3f", m["b"] / m["c"]) : "NA"
			printf "| %s | %s | %s | %s | %s | %s | %s | %d of %d |\n", k[1], k[2], m["c"], m["a"], m["b"], ac, bc, better, both
		}
	}'
