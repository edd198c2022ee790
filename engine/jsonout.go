package engine

// JSONOutput is an optional interface of a compiled-in Go Transformer that
// vouches for the JSON of the records it emits, so that an ndjson output
// does not check them again (the check is most of a cheap stage's cost:
// 8-13% of the CPU of the native W1 and W4 workloads).
//
// The guarantee is about every record the instance emits, from Transform,
// Flush and Tick alike: "one JSON value" means what the ndjson input
// accepts (codec.ValidJSON), on one line (no newline byte in Data). A
// transformer whose guarantee depends on its configuration (case on a
// field keeps JSON, case of the whole record does not) answers per
// instance. It is asked once, when a worker starts; a stage that does not
// implement it, or answers JSONUnchecked, has its output checked.
//
// Only the engine's own decision trusts it: the engine tracks, per batch,
// whether every record in it is known to be one JSON value (the ndjson
// input's records were checked when framed; a stage's output is known when
// its guarantee is JSONAlways, or JSONPreserved and its input batch was
// known) and the output skips its check for known batches only. Anything
// else (records from a connector's batches, a switch or fanout branch
// merge, a stage of another kind, a Go plugin .so, which cannot implement
// this interface since it does not link the engine) is checked as before,
// so invalid JSON never reaches an ndjson output. A wrong answer breaks
// that guarantee: answer JSONPreserved or JSONAlways only for output that
// is built to be JSON (a test should feed it hostile input).
type JSONOutput interface {
	JSONOutput() JSONGuarantee
}

// JSONGuarantee is what a transformer promises about the JSON of its
// output (see JSONOutput).
type JSONGuarantee uint8

const (
	// JSONUnchecked promises nothing: the output checks each record.
	JSONUnchecked JSONGuarantee = iota
	// JSONPreserved: each record emitted is one JSON value on one line
	// whenever every record the instance was handed so far was (select,
	// set, case of a field: they pass records on or edit them as JSON).
	JSONPreserved
	// JSONAlways: each record emitted is one JSON value on one line,
	// whatever the instance was handed (parsers that build their JSON).
	JSONAlways
)

// jsonGuarantee returns t's guarantee (JSONUnchecked when it has none).
func jsonGuarantee(t Transformer) JSONGuarantee {
	if j, ok := t.(JSONOutput); ok {
		return j.JSONOutput()
	}
	return JSONUnchecked
}

// outputJSON returns whether the output of a worker with guarantee g is
// known to be JSON when its input was (inJSON).
func outputJSON(g JSONGuarantee, inJSON bool) bool {
	return g == JSONAlways || (g == JSONPreserved && inJSON)
}
