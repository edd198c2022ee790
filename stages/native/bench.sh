#!/usr/bin/env bash
# What the .so boundary costs: W1-W3 (shared/bench/README.md) through the
# Go plugins testdata/plugins/w1..w3 loaded by an ordinary pipe, against
# the very same code compiled into pipe (testdata/benchhost, use: w1..w3),
# and against pipe's built-in transformers (bench/workloads/native).
#
#   stages/native/bench.sh            # 1M records, 5 runs each
#   N=200000 RUNS=3 stages/native/bench.sh
#
# Needs GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-1000000}
RUNS=${RUNS:-5}
GEN=${GEN:-../shared/bench/gen/main.go}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go run "$GEN" -n "$N" -seed 42 >"$tmp/logs.ndjson"
go build -o "$tmp/pipe" ./cmd/pipe
go build -o "$tmp/benchhost" ./stages/native/testdata/benchhost
for w in 1 2 3; do
	go build -buildmode=plugin -o "$tmp/w$w.so" ./stages/native/testdata/plugins/w$w
	codec=ndjson
	[ $w = 2 ] && codec=lines
	printf 'input: {codec: %s}\nstages:\n  - {name: w%s, type: native, use: w%s}\n' $codec $w $w >"$tmp/w$w-compiled.yaml"
	printf 'input: {codec: %s}\nstages:\n  - {name: w%s, type: native, path: w%s.so}\n' $codec $w $w >"$tmp/w$w-so.yaml"
done
# The variants run interleaved (compiled, so, builtin, compiled, ...) so
# that a load change on a shared machine hits them alike; medians of wall
# and of CPU (user+sys) time.
printf '| workload | variant | median wall s | records/s | median CPU s | .so / compiled-in (wall) | .so / compiled-in (CPU) |\n|---|---|---:|---:|---:|---:|---:|\n'
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
for w in 1 2 3; do
	declare -A cmd=(
		[compiled]="$tmp/benchhost run $tmp/w$w-compiled.yaml --input $tmp/logs.ndjson"
		[so]="$tmp/pipe run $tmp/w$w-so.yaml --input $tmp/logs.ndjson"
		[builtin]="$tmp/pipe run bench/workloads/native/w$w.yaml --input $tmp/logs.ndjson"
	)
	for v in compiled so builtin; do : >"$tmp/$v.wall"; : >"$tmp/$v.cpu"; done
	for _ in $(seq "$RUNS"); do
		for v in compiled so builtin; do
			/usr/bin/time -f '%e %U %S' -o "$tmp/t" ${cmd[$v]} >/dev/null
			read -r e u s <"$tmp/t"
			echo "$e" >>"$tmp/$v.wall"
			awk -v u="$u" -v s="$s" 'BEGIN {print u+s}' >>"$tmp/$v.cpu"
		done
	done
	cw=$(median <"$tmp/compiled.wall") cc=$(median <"$tmp/compiled.cpu")
	for v in compiled so builtin; do
		mw=$(median <"$tmp/$v.wall") mc=$(median <"$tmp/$v.cpu")
		awk -v w="W$w" -v v="$v" -v mw="$mw" -v mc="$mc" -v cw="$cw" -v cc="$cc" -v n="$N" 'BEGIN {
			r1 = r2 = ""; if (v == "so") { r1 = sprintf("%.3f", cw/mw); r2 = sprintf("%.3f", cc/mc) }
			printf "| %s | %s | %.2f | %.0f | %.2f | %s | %s |\n", w, v, mw, n/mw, mc, r1, r2 }'
	done
	unset cmd
done
echo
echo "compiled: the plugins' code compiled into pipe (testdata/benchhost); so: the same code as"
echo "a .so plugin loaded by pipe; builtin: pipe's own transformers (bench/workloads/native)."
echo "Ratio > 1: the .so is faster. $N records, $RUNS interleaved runs, $(nproc) cores, $(go version | cut -d' ' -f3)."
