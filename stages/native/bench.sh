#!/usr/bin/env bash
# What the .so boundary costs: W1-W3 (shared/bench/README.md) through the
# Go plugins testdata/plugins/w1..w3 loaded by an ordinary pipe, against
# the very same code compiled into pipe (testdata/benchhost, use: w1..w3),
# and against pipe's built-in transformers (bench/workloads/native).
#
#   stages/native/bench.sh            # 1M records, 5 runs each
#   N=200000 RUNS=3 stages/native/bench.sh
#
# Needs hyperfine and jq.
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
printf '| workload | variant | median s | records/s | .so / compiled-in (same code) |\n|---|---|---:|---:|---:|\n'
for w in 1 2 3; do
	hyperfine --style none --runs "$RUNS" --export-json "$tmp/h.json" \
		-n compiled "$tmp/benchhost run $tmp/w$w-compiled.yaml --input $tmp/logs.ndjson" \
		-n so "$tmp/pipe run $tmp/w$w-so.yaml --input $tmp/logs.ndjson" \
		-n builtin "WORKERS=1 $tmp/pipe run bench/workloads/native/w$w.yaml --input $tmp/logs.ndjson" >/dev/null 2>&1
	jq -r --arg w "W$w" --argjson n "$N" '
		(.results[] | select(.command == "compiled") | .median) as $c |
		.results[] | "| \($w) | \(.command) | \(.median * 1000 | round / 1000) | \($n / .median | round) | \(if .command == "so" then ($c / .median * 1000 | round / 1000 | tostring) else "" end) |"' "$tmp/h.json"
done
echo
echo "compiled: the plugins' code compiled into pipe; so: the same code as a .so plugin;"
echo "builtin: pipe's own transformers (bench/workloads/native). Ratio > 1: the .so is faster."
echo "$N records, median of $RUNS runs, $(nproc) cores, $(go version | cut -d' ' -f3)."
