package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/tidwall/gjson"
)

// A switch step runs as a stage like any other (workers, timeout, on_error,
// counts and order come from the stage decorator): its instances are
// routers, which test each record against the cases' conditions and mark
// it with the branch it goes to. After the switch stage, the run's demux
// (route_run.go) reads the mark and hands each record to its branch.
//
// A case's condition is itself a stage built by its kind: select: is the
// native select transformer with that config, lua: and js: are scripts
// that return the record when the expression is true. A condition holds
// when its stage emits a record; what it emits is discarded, the record
// itself goes on unchanged.

// branchKey is the metadata key by which a router marks a record's branch
// for the demux, which removes it. No user key starts with a NUL byte.
const branchKey = "\x00pipe.branch"

// Branch indexes of a router's mark besides the branches' own (0, 1, ...).
const (
	routeContinue = -1
	routeDrop     = -2
)

// switchStage is a switch step's Stage.
type switchStage struct {
	name  string
	conds []Stage
	kinds []string // condition kind per case, for messages
	to    []int    // branch index per case
	def   int      // branch index, routeContinue or routeDrop
}

// buildSwitch builds the conditions of a switch step. Branch indexes follow
// the order of s.Branches.
func buildSwitch(s *StageSpec, o options, codec string, timeout time.Duration) (Stage, error) {
	index := map[string]int{}
	for i, b := range s.Branches {
		index[b.Name] = i
	}
	st := &switchStage{name: s.Name, def: routeContinue}
	switch s.Default {
	case "", DefaultContinue:
	case DefaultDrop:
		st.def = routeDrop
	default:
		st.def = index[s.Default]
	}
	var errs errList
	for j := range s.Switch {
		c := &s.Switch[j]
		kind, _ := c.condition()
		cs := &StageSpec{Name: fmt.Sprintf("%s.case%d", s.Name, j+1), file: s.file, src: c.src}
		switch kind {
		case "select":
			cs.Type, cs.Use, cs.Config = nativeKind.Name, "select", c.Select
			if _, ok := o.reg.LookupNative("select"); !ok {
				errs.add(errAtField(c.src, s.file, "select", "select: conditions need the native select stage, which this build does not include (import github.com/pipe-dev/pipe/stages/native)"))
				continue
			}
		case "lua":
			cs.Type, cs.Code = "lua", "if ("+c.Lua+") then return rec end\nreturn nil"
		case "js":
			cs.Type, cs.Code = "js", "return ("+c.JS+") ? rec : null"
		}
		build, ok := o.reg.Kind(cs.Type)
		if !ok {
			errs.add(errAtField(c.src, s.file, kind, "%s: conditions need the %s stage kind, which this build does not include", kind, kind))
			continue
		}
		env := &BuildEnv{Registry: o.reg, Codec: codec, Logger: o.log.With("stage", cs.Name, "kind", cs.Type),
			Events: &StageEvents{stage: cs.Name, kind: cs.Type, hook: o.events}, Timeout: timeout}
		cond, err := build(cs, env)
		if err != nil {
			if AllConfigErrors(err) == nil {
				return nil, err
			}
			errs.add(err)
			continue
		}
		st.conds = append(st.conds, cond)
		st.kinds = append(st.kinds, kind)
		st.to = append(st.to, index[c.To])
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return st, nil
}

// Load loads every condition (compiles the scripts once).
func (s *switchStage) Load(ctx context.Context) error {
	var errs errList
	for _, c := range s.conds {
		if l, ok := c.(Loader); ok {
			if err := l.Load(ctx); err != nil {
				if AllConfigErrors(err) == nil {
					return err
				}
				errs.add(err)
			}
		}
	}
	return errs.err()
}

// New returns a router with one instance of every condition.
func (s *switchStage) New(ctx context.Context) (Transformer, error) {
	r := &router{s: s}
	for _, c := range s.conds {
		t, err := c.New(ctx)
		if err == nil && t == nil {
			err = errors.New("condition built a nil transformer")
		}
		if err != nil {
			r.Close()
			return nil, err
		}
		r.conds = append(r.conds, t)
	}
	r.mark = func(*Record) { r.hit = true }
	r.fields = newFieldIndex(r.conds)
	return r, nil
}

// FieldCondition is an optional interface of a switch case's condition
// (the native select stage implements it): a condition that tests one JSON
// field of the record. A switch looks the fields of all such cases up in
// one pass over each record (records are decoded once, however many cases
// test them) and calls TestField instead of Transform.
type FieldCondition interface {
	// ConditionField returns the plain dotted path (no wildcards, queries
	// or modifiers) of the field the condition tests, or "" when it tests
	// something else (it is then called through Transform).
	ConditionField() string
	// TestField reports whether the condition holds for the field's JSON
	// text raw ("" when the record has no such field), as Transform would
	// decide, with the same error for a record Transform fails (a key
	// repeated on the path). raw is valid only during the call. It is
	// called only for records that are JSON objects; Transform decides the
	// others (and fails them as it does).
	TestField(rec *Record, raw string) (bool, error)
}

// fieldIndex looks up the fields of a router's field conditions: one pass
// over the record's top-level keys finds every path's first segment.
type fieldIndex struct {
	slot  []int    // per condition: index into paths, -1 when not a field condition
	paths []string // distinct paths
	heads []string // their first segment ("" when the path has escapes: looked up alone)
	rests []string // the rest of the path after the first segment
	vals  []string // per path, for the current record
	found []bool
}

func newFieldIndex(conds []Transformer) *fieldIndex {
	x := &fieldIndex{}
	byPath := map[string]int{}
	some := false
	for _, c := range conds {
		fc, ok := c.(FieldCondition)
		path := ""
		if ok {
			path = fc.ConditionField()
		}
		if path == "" {
			x.slot = append(x.slot, -1)
			continue
		}
		some = true
		i, seen := byPath[path]
		if !seen {
			i = len(x.paths)
			byPath[path] = i
			x.paths = append(x.paths, path)
			head, rest, _ := strings.Cut(path, ".")
			if strings.ContainsRune(path, '\\') {
				head, rest = "", ""
			}
			x.heads = append(x.heads, head)
			x.rests = append(x.rests, rest)
		}
		x.slot = append(x.slot, i)
	}
	if !some {
		return nil
	}
	x.vals = make([]string, len(x.paths))
	x.found = make([]bool, len(x.paths))
	return x
}

// decode looks every path up in data; it returns false when data is not a
// JSON object (the conditions' Transform then decides). The values point
// into data.
func (x *fieldIndex) decode(data []byte) bool {
	i := 0
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r') {
		i++
	}
	if i == len(data) || data[i] != '{' {
		return false
	}
	// A string view of data, as gjson.GetBytes makes: data is not changed
	// while the conditions run (they only read it).
	text := unsafe.String(unsafe.SliceData(data), len(data))
	left := 0
	for j := range x.paths {
		x.vals[j], x.found[j] = "", false
		if x.heads[j] == "" {
			x.vals[j], x.found[j] = gjson.Get(text, x.paths[j]).Raw, true
			continue
		}
		left++
	}
	if left == 0 {
		return true
	}
	gjson.Parse(text).ForEach(func(k, v gjson.Result) bool {
		for j, head := range x.heads {
			if x.found[j] || head != k.Str {
				continue
			}
			x.found[j] = true
			left--
			if x.rests[j] == "" {
				x.vals[j] = v.Raw
			} else {
				x.vals[j] = gjson.Get(v.Raw, x.rests[j]).Raw
			}
		}
		return left > 0
	})
	return true
}

// Close releases what the conditions loaded.
func (s *switchStage) Close() error {
	var errs []error
	for _, c := range s.conds {
		if c, ok := c.(interface{ Close() error }); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

// router is one instance of a switch step: it marks each record with its
// branch (see branchKey) and emits it, or drops it under default: drop.
type router struct {
	s      *switchStage
	conds  []Transformer
	hit    bool
	mark   func(*Record)
	fields *fieldIndex // nil when no condition is a FieldCondition
}

// Transform implements Transformer: the first case whose condition holds
// decides the record's branch. A condition's error fails the record (the
// switch step's on_error).
func (r *router) Transform(ctx context.Context, rec *Record, emit func(*Record)) error {
	decoded := r.fields != nil && r.fields.decode(rec.Data)
	for i, c := range r.conds {
		if decoded {
			if j := r.fields.slot[i]; j >= 0 {
				hit, err := c.(FieldCondition).TestField(rec, r.fields.vals[j])
				if err != nil {
					return fmt.Errorf("case %d (%s): %w", i+1, r.s.kinds[i], err)
				}
				if hit {
					rec.Set(branchKey, strconv.Itoa(r.s.to[i]))
					emit(rec)
					return nil
				}
				continue
			}
		}
		probe := rec
		if r.s.kinds[i] != "select" { // select only reads; scripts get a copy
			probe = &Record{Data: slices.Clone(rec.Data), Meta: maps.Clone(rec.Meta)}
			probe.SetNumber(rec.Number())
		}
		r.hit = false
		if err := c.Transform(ctx, probe, r.mark); err != nil {
			return fmt.Errorf("case %d (%s): %w", i+1, r.s.kinds[i], err)
		}
		if r.hit {
			rec.Set(branchKey, strconv.Itoa(r.s.to[i]))
			emit(rec)
			return nil
		}
	}
	switch r.s.def {
	case routeDrop:
		return nil
	case routeContinue:
	default:
		rec.Set(branchKey, strconv.Itoa(r.s.def))
	}
	emit(rec)
	return nil
}

// Open opens the conditions.
func (r *router) Open(ctx context.Context) error {
	for _, c := range r.conds {
		if o, ok := c.(Opener); ok {
			if err := o.Open(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// Close closes the conditions.
func (r *router) Close() error {
	var errs []error
	for _, c := range r.conds {
		if c, ok := c.(Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

// takeBranch returns the branch a router marked rec with (routeContinue
// when none) and removes the mark.
func takeBranch(rec *Record) int {
	v, ok := rec.Meta[branchKey]
	if !ok {
		return routeContinue
	}
	delete(rec.Meta, branchKey)
	if len(rec.Meta) == 0 {
		rec.Meta = nil
	}
	i, err := strconv.Atoi(v)
	if err != nil {
		return routeContinue
	}
	return i
}

// fanoutStage is a fanout step's Stage: its instances pass records on; the
// run's fanout node copies them to the outputs.
type fanoutStage struct{}

func (fanoutStage) New(context.Context) (Transformer, error) {
	return TransformerFunc(func(_ context.Context, rec *Record, emit func(*Record)) error {
		emit(rec)
		return nil
	}), nil
}

var (
	_ Transformer = (*router)(nil)
	_ Opener      = (*router)(nil)
	_ Closer      = (*router)(nil)
	_ Loader      = (*switchStage)(nil)
)
