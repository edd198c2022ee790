#!/usr/bin/env bash
# Compares pipe with the reference tools on the shared workloads (see
# ../shared/bench/README.md) and writes bench/RESULTS.md.
#
#   bench/run.sh              # 1M records, 3 runs each; writes RESULTS.md, results.tsv, results.svg
#   N=200000 RUNS=5 bench/run.sh
#
# Needs jq, miller, hyperfine and GNU time: installed from Debian if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
RUNS=${RUNS:-3}
GEN=${GEN:-../shared/bench/gen/main.go}
OUT=${OUT:-bench/RESULTS.md}

need=()
for t in jq:jq mlr:miller hyperfine:hyperfine /usr/bin/time:time; do
	command -v "${t%%:*}" >/dev/null || need+=("${t##*:}")
done
if [ ${#need[@]} -gt 0 ]; then
	echo "installing ${need[*]}" >&2
	apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
data=$tmp/logs.ndjson
echo "generating $N records" >&2
go run "$GEN" -n "$N" -seed 42 >"$data"
bytes=$(stat -c %s "$data")
# Measure a copy of the binary, as installed (go install, make install and
# release archives write it with write(2)). The file the Go linker writes
# (through mmap) maps with about 10 MB more resident pages on this machine's
# kernel: the same binary, W1 native, 49.2 MB freshly linked, 39.2 MB copied.
go build -o "$tmp/pipe.link" ./cmd/pipe
cp "$tmp/pipe.link" "$tmp/pipe"
rm "$tmp/pipe.link"
pipe=$tmp/pipe
# W4 reads the records as logfmt lines (rendered by pipe's logfmt output
# codec, without tags) and as combined-log lines (rendered by jq); see
# bench/inputs_test.go, which renders them the same way.
logfmt=$tmp/logs.logfmt
clf=$tmp/logs.clf
printf 'input: {codec: ndjson}\noutput: {codec: logfmt}\nstages: [{name: flat, type: native, use: delete, config: {field: tags}}]\n' >"$tmp/render.yaml"
"$pipe" run "$tmp/render.yaml" --input "$data" >"$logfmt"
jq -r '"10.0.0.1 - \(.user) [\(.ts[0:19] + "Z" | strptime("%Y-%m-%dT%H:%M:%SZ") | strftime("%d/%b/%Y:%H:%M:%S +0000"))] \"\(.method) \(.path) HTTP/1.1\" \(.status) \(.msg | length) \"-\" \"pipe-bench/1.0\""' "$data" >"$clf"
# input_of W: the file workload W reads.
input_of() {
	case $1 in
	W4) echo "$logfmt" ;;
	W4C | W4G) echo "$clf" ;;
	*) echo "$data" ;;
	esac
}

# name|workload|reference?|command   (the command reads $data, writes stdout)
cases=(
	"cat|W0|ref|cat $data"
	"jq|W1|ref|jq -c 'select(.level==\"error\") | .msg |= ascii_upcase | .processed=true' $data"
	"mlr|W1||mlr --ijsonl --ojsonl filter '\$level==\"error\"' then put '\$msg=toupper(\$msg); \$processed=true' $data"
	"awk|W2|ref|awk '{print toupper(\$0)}' $data"
	"tr|W2||tr a-z A-Z < $data"
	"jq|W3|ref|jq -c '.tags[] as \$t | .tag=\$t | del(.tags)' $data"
	# mlr 6 has no logfmt reader: DKVP split on spaces is the nearest (it does
	# not unquote, so quoted values with spaces come out split).
	"mlr|W4|ref|mlr --idkvp --ifs space --ips = --ojsonl cat $logfmt"
	# No combined-log reader either: fields split on spaces (unparsed). W4G
	# (the same lines through grok) is compared with it too.
	"mlr|W4C|ref|mlr --inidx --ifs space --ojsonl cat $clf"
	"mlr|W4G|ref|mlr --inidx --ifs space --ojsonl cat $clf"
	"jq|W5|ref|jq -c -n 'reduce inputs as \$r ({}; .[\$r.ts[0:19] + \"|\" + \$r.service] += [\$r.latency_ms]) | to_entries[] | (.value | sort) as \$v | {key, count: (\$v | length), p99: \$v[(((\$v | length) - 1) * 0.99 | floor)]}' $data"
	"mlr|W5||mlr --ijsonl --ojsonl put '\$second = substr(\$ts, 0, 18)' then stats1 -a count,p99 -f latency_ms -g second,service $data"
	# Start-up (issue 20): start and exit on empty input.
	"jq .|S0|ref|jq . < /dev/null"
	"pipe --native case|S0||$pipe run --native case --config to=upper < /dev/null"
)
# Redpanda Connect beside pipe when a build of it is at CONNECT (see
# ../shared/bench/peers/README.md): its Bloblang pipelines on W0-W3, one
# thread, for the memory goal of issue 20 (pipe's peak RSS at or below
# Connect's in the same run).
CONNECT=${CONNECT:-/tmp/peers/bin/connect}
PEERS=${PEERS:-../shared/bench/peers}
if [ -x "$CONNECT" ] && [ -d "$PEERS" ]; then
	for w in w0 w1 w2 w3; do
		f=$PEERS/connect-$w.yaml
		[ -f "$f" ] || f=$PEERS/connect-$w-bloblang.yaml
		[ -f "$f" ] && cases+=("connect bloblang|${w^^}||THREADS=1 $CONNECT -c $f < $data")
	done
fi
# Every stage kind's workloads (bench/workloads/<kind>/w*.yaml), with 1 and
# 2 workers; a kind that pipe lint refuses (not built in, fixtures missing)
# is listed as skipped with the reason.
skipped=()
for f in bench/workloads/*/w*.yaml; do
	kind=$(basename "$(dirname "$f")")
	w=$(basename "$f" .yaml | tr a-z A-Z)
	if ! why=$("$pipe" lint "$f" 2>&1 >/dev/null); then
		skipped+=("$w|pipe $kind|$(echo "$why" | head -1 | cut -c1-160)")
		continue
	fi
	in=$(input_of "$w")
	cases+=("pipe $kind|$w||WORKERS=1 $pipe run $f --input $in")
	# W5's aggregate closes windows on its clock: one worker only.
	[ "$w" = W0 ] || [ "$w" = W5 ] || cases+=("pipe $kind, workers 2|$w||WORKERS=2 $pipe run $f --input $in")
done
# The kinds pipe is to have whose workloads do not exist yet.
for kind in native-so lua js wasm rpc; do
	[ -d "bench/workloads/$kind" ] || skipped+=("W1-W3|pipe $kind|not built yet (no bench/workloads/$kind)")
done

# time_case N CMD: one hyperfine measurement of CMD (N runs), its wall times
# appended to $tmp/times.<case>. A command that needs no shell (no pipe, no
# redirection but its stdin from /dev/null, which hyperfine gives every
# command) runs without one (-N), its leading VAR=value words set in
# hyperfine's environment: on a command of a few milliseconds (cat on W0,
# start-up) the shell's start-up time, which hyperfine measures apart and
# subtracts, varies by as much as the command takes.
time_case() {
	local i=$1 c=$2 envs=() opt=()
	while [[ $c =~ ^([A-Z_]+=[^ ]*)\ (.*)$ ]]; do
		envs+=("${BASH_REMATCH[1]}")
		c=${BASH_REMATCH[2]}
	done
	c=${c% < /dev/null}
	if [[ $c == *[\<\>\|]* ]]; then
		c="$2 > /dev/null"
		envs=()
	else
		opt=(-N)
	fi
	env "${envs[@]}" hyperfine --style none "${opt[@]}" --runs "$3" --export-json "$tmp/h.json" "$c" >/dev/null 2>&1
	jq '.results[0].times[]' "$tmp/h.json" >>"$tmp/times.$i"
}

# Each workload's commands (its reference and every pipe row beside it) are
# timed interleaved: RUNS rounds, each running every command of the workload
# once (forward in odd rounds, backward in even ones), so a slow minute on
# this shared machine falls on every side of a goal's pair, not on one. A
# command whose first run took under 0.1 s is run 5 times a round. The median
# is over all of a command's runs.
declare -A ref
rows=()
workloads=()
declare -A members
for i in "${!cases[@]}"; do
	IFS='|' read -r _ w _ _ <<<"${cases[$i]}"
	[ -n "${members[$w]:-}" ] || workloads+=("$w")
	members[$w]+="$i "
done
declare -A count rss inner
for w in "${workloads[@]}"; do
	idx=(${members[$w]})
	for i in "${idx[@]}"; do
		IFS='|' read -r name _ _ cmd <<<"${cases[$i]}"
		echo "$w $name" >&2
		# One run counts the output records and measures the peak RSS (the
		# largest of the processes in the pipeline: pipe, not wc).
		/usr/bin/time -f '%e %M' -o "$tmp/rss" bash -c "$cmd | wc -l > $tmp/count"
		count[$i]=$(cat "$tmp/count")
		read -r secs rss[$i] < <(tail -1 "$tmp/rss")
		inner[$i]=$(awk -v s="$secs" 'BEGIN { print (s < 0.1) ? 5 : 1 }')
		: >"$tmp/times.$i"
	done
	for ((r = 1; r <= RUNS; r++)); do
		order=("${idx[@]}")
		if ((r % 2 == 0)); then
			order=()
			for ((j = ${#idx[@]} - 1; j >= 0; j--)); do order+=("${idx[$j]}"); done
		fi
		for i in "${order[@]}"; do
			IFS='|' read -r _ _ _ cmd <<<"${cases[$i]}"
			time_case "$i" "$cmd" "${inner[$i]}"
		done
	done
	for i in "${idx[@]}"; do
		IFS='|' read -r name _ isref _ <<<"${cases[$i]}"
		median=$(sort -g "$tmp/times.$i" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
		[ -n "$isref" ] && ref[$w]=$median
		rows+=("$w|$name|$median|${count[$i]}|${rss[$i]}")
	done
done

# field W NAME F: field F (3 median, 4 count, 5 peak RSS KB) of the row of
# workload W and tool NAME, or nothing when it was not measured.
field() {
	local r w name
	for r in "${rows[@]}"; do
		IFS='|' read -r w name _ <<<"$r"
		if [ "$w" = "$1" ] && [ "$name" = "$2" ]; then
			cut -d'|' -f"$3" <<<"$r"
			return
		fi
	done
}

# ratio_goal ISSUE W NAME TARGET REFNAME: pipe NAME on W at least TARGET
# times as fast as the reference of W.
ratio_goal() {
	local issue=$1 w=$2 name=$3 target=$4 refname=$5 m1 m2
	m1=$(field "$w" "$name" 3)
	m2=$(field "$w" "$name, workers 2" 3)
	if [ -z "$m1" ] || [ -z "${ref[$w]:-}" ]; then
		echo "| $issue | $w $name ≥ ${target}x $refname | not measured (skipped above) | |"
		return
	fi
	awk -v is="$issue" -v w="$w" -v g="$name" -v t="$target" -v rn="$refname" -v ref="${ref[$w]}" -v m1="$m1" -v m2="$m2" 'BEGIN {
		r = ref / m1; s = sprintf("%.2fx", r)
		if (m2 != "") s = s sprintf(" (%.2fx)", ref / m2)
		v = (r >= t) ? "met" : sprintf("missed by %.0f%%", (1 - r / t) * 100)
		printf "| %s | %s %s ≥ %sx %s | %s | %s |\n", is, w, g, t, rn, s, v }'
}

# overhead_goal: a wasm guest with its timeout on runs within 15% of the
# same guest with timeout: 0 (kinds K and K-timeout0, W1-W3, 1 worker).
overhead_goal() {
	local k w on off worst= list=
	for k in wasm wasm-c wasm-wat; do
		for w in W1 W2 W3; do
			on=$(field "$w" "pipe $k" 3)
			off=$(field "$w" "pipe $k-timeout0" 3)
			[ -n "$on" ] && [ -n "$off" ] || continue
			list+="$w $k $(awk -v a="$on" -v b="$off" 'BEGIN { printf "%+.0f%%", (a / b - 1) * 100 }'); "
			worst=$(awk -v a="$on" -v b="$off" -v x="${worst:-0}" 'BEGIN { r = a / b; print (r > x) ? r : x }')
		done
	done
	if [ -z "$worst" ]; then
		echo "| 20 | wasm with a timeout within 15% of timeout: 0 | not measured (no wasm*-timeout0 pair above) | |"
		return
	fi
	awk -v x="$worst" -v l="${list%; }" 'BEGIN {
		v = (x <= 1.15) ? "met" : sprintf("missed by %.0f%%", (x / 1.15 - 1) * 100)
		printf "| 20 | wasm with a timeout within 15%% of timeout: 0 (time with / without) | %s | %s |\n", l, v }'
}

# rss_goal ISSUE LABEL REGEX WORKLOADS LIMIT_MB: the largest peak RSS of the
# pipe runs whose tool matches REGEX on WORKLOADS (a regex) is at most LIMIT_MB;
# LIMIT_MB "connect" compares each run with Connect's Bloblang run of the
# same workload instead (largest ratio shown).
rss_goal() {
	local issue=$1 label=$2 re=$3 wre=$4 limit=$5 r w name rss worst=0 wname= lim
	for r in "${rows[@]}"; do
		IFS='|' read -r w name _ _ rss <<<"$r"
		[[ $w =~ ^($wre)$ && $name =~ $re ]] || continue
		if [ "$limit" = connect ]; then
			lim=$(field "$w" "connect bloblang" 5)
			[ -n "$lim" ] || continue
		else
			lim=$((limit * 1024))
		fi
		if awk -v a="$rss" -v b="$lim" -v x="$worst" 'BEGIN { exit !(a / b > x) }'; then
			worst=$(awk -v a="$rss" -v b="$lim" 'BEGIN { print a / b }')
			wname="$w $name, $(awk -v a="$rss" -v b="$lim" 'BEGIN { printf "%.1f MB of %.1f MB", a / 1024, b / 1024 }')"
		fi
	done
	if [ -z "$wname" ]; then
		echo "| $issue | $label | not measured | |"
		return
	fi
	awk -v is="$issue" -v l="$label" -v x="$worst" -v n="$wname" 'BEGIN {
		v = (x <= 1) ? "met" : sprintf("missed by %.0f%%", (x - 1) * 100)
		printf "| %s | %s | largest: %s | %s |\n", is, l, n, v }'
}

goals() {
	ratio_goal 20 W0 "pipe native" 0.4 cat
	ratio_goal 20 W1 "pipe native" 30 jq
	ratio_goal 20 W1 "pipe wasm-c" 10 jq
	ratio_goal 20 W1 "pipe wasm" 3 jq
	ratio_goal 20 W2 "pipe wasm-wat" 0.5 awk
	overhead_goal
	ratio_goal 20 W2 "pipe lua" 0.3 awk
	ratio_goal 20 W2 "pipe js" 0.2 awk
	ratio_goal 20 W3 "pipe lua" 5 jq
	ratio_goal 20 W3 "pipe js" 3 jq
	if [ -n "$(field W1 "connect bloblang" 5)" ]; then
		rss_goal 20 "peak RSS of native, lua, js on W0-W3 ≤ Connect's (Bloblang, same workload)" '^pipe (native|lua|js)(, workers 2)?$' 'W0|W1|W2|W3' connect
	else
		rss_goal 20 "peak RSS of native, lua, js on W0-W3 ≤ 40 MB (Connect not built)" '^pipe (native|lua|js)(, workers 2)?$' 'W0|W1|W2|W3' 40
	fi
	rss_goal 20 "peak RSS of wasm (Go guest), 2 workers, W1-W3 ≤ 80 MB" '^pipe wasm, workers 2$' 'W1|W2|W3' 80
	rss_goal 20 "peak RSS of rpc, W1-W3 ≤ 64 MB" '^pipe rpc(, workers 2)?$' 'W1|W2|W3' 64
	ratio_goal 20 S0 "pipe --native case" 1 "jq . (start-up)"
	ratio_goal 19 W4 "pipe native" 10 mlr
	ratio_goal 19 W4C "pipe native" 10 mlr
	ratio_goal 19 W5 "pipe native" 20 jq
	rss_goal 19 "peak RSS of W5 native < 100 MB" '^pipe native$' W5 100
}

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
{
	echo "# Benchmark results"
	echo
	echo "Generated by \`bench/run.sh\` ($(date -u +%Y-%m-%d)): $N records of the shared generator"
	echo "(seed 42, $((bytes / 1000000)) MB), median of $RUNS runs with hyperfine (5 a round for commands under"
	echo "0.1 s), output to /dev/null. Each workload's commands are timed interleaved: round after round, every"
	echo "command of the workload once a round, so the reference and pipe's rows share the machine's slow moments."
	echo "Machine: $cpu, $(nproc) cores, $(go version | cut -d' ' -f3)."
	echo "Ratios are to the reference of each workload (cat for W0, jq for W1, W3 and W5, awk for W2, mlr for W4)"
	echo "measured in the same run; above 1 means faster than the reference. Peak RSS is the"
	echo "maximum resident set size of one run. Only ratios from one run are comparable."
	echo
	echo "| workload | tool | median s | records/s (input) | MB/s (input) | vs reference | output records | peak RSS MB |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|"
	for r in "${rows[@]}"; do
		IFS='|' read -r w name median count rss <<<"$r"
		awk -v w="$w" -v name="$name" -v m="$median" -v n="$N" -v b="$bytes" -v ref="${ref[$w]}" -v c="$count" -v rss="$rss" 'BEGIN {
			if (w == "S0") { # start-up: no input
				printf "| %s | %s | %.3f | - | - | %.2fx | %d | %.1f |\n", w, name, m, ref/m, c, rss/1024; exit }
			printf "| %s | %s | %.3f | %.0f | %.0f | %.2fx | %d | %.1f |\n", w, name, m, n/m, b/m/1e6, ref/m, c, rss/1024 }'
	done | sort -s -t'|' -k2,2
	for r in "${skipped[@]}"; do
		IFS='|' read -r w name why <<<"$r"
		echo "| $w | $name | skipped: $why | | | | | |"
	done
	# This round's goals (issues 19 and 20), checked against this run's
	# figures: the Goals section lists each one as met or missed by how much.
	echo
	echo "## Goals"
	echo
	echo "The goals of issues 19 and 20, computed from the run above (1 worker; 2 workers in"
	echo "brackets). \"missed by X%\": a ratio X% below its target, a time or a peak RSS X% above"
	echo "its limit."
	echo
	echo "| issue | goal | measured | |"
	echo "|---|---|---:|---|"
	goals
	if [ -f bench/NOTES.md ]; then
		echo
		cat bench/NOTES.md
	fi
} >"$OUT"
cat "$OUT"

# The chart: records/s per tool and workload (bench/chart, gonum/plot).
TSV=${TSV:-bench/results.tsv}
for r in "${rows[@]}"; do
	IFS='|' read -r w name median count rss <<<"$r"
	[ "$w" = S0 ] && continue # start-up: no records/s
	awk -v w="$w" -v name="$name" -v m="$median" -v n="$N" 'BEGIN { printf "%s\t%s\t%.0f\n", w, name, n/m }'
done >"$TSV"
SVG=${SVG:-bench/results.svg}
tsv_abs=$(realpath "$TSV")
svg_abs=$(realpath -m "$SVG")
(cd bench/chart && go run . "$tsv_abs" "$svg_abs")
echo "wrote $OUT, $TSV and $SVG" >&2
