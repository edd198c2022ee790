package engine

import (
	"sort"
	"time"

	"github.com/pipe-dev/pipe/component"
	"strings"

	"gopkg.in/yaml.v3"
)

// Routing in the pipeline file: a step of a chain may be a switch (each
// record goes to the branch of the first case whose condition holds) or a
// fanout (each record is copied to several outputs). A flat list of stages
// means what it always meant. See README.md, "Routing", and RATIONALE.md.

// Switch defaults (StageSpec.Default).
const (
	DefaultContinue = "continue" // records no case matches go on down the chain
	DefaultDrop     = "drop"     // records no case matches are dropped (counted)
)

// Fanout policies (FanoutSpec.Policy): what a copy does when its output is
// slow (its queue is full) or failing (a write failed).
const (
	PolicyBlock      = "block"       // wait for the output; a write error stops the run
	PolicyDrop       = "drop"        // drop the copy (counted) and go on
	PolicyDeadLetter = "dead_letter" // write the copy to dead_letter and go on
)

// MainOutput is the name that to: gives the pipeline's own output:.
const MainOutput = "output"

// CaseSpec is one case of a switch: a condition and the branch a record
// that meets it goes to. The condition is one of select: (the config of
// the native select stage: field, equals, matches, gt, ...), lua: or js:
// (an expression over rec and meta that is true or false).
type CaseSpec struct {
	Select Config `yaml:"select" doc:"The condition as the native select stage's config, e.g. {field: level, equals: error}."`
	Lua    string `yaml:"lua" example:"rec.latency_ms > 500" doc:"The condition as a Lua expression over rec and meta."`
	JS     string `yaml:"js" example:"meta.source === 'edge'" doc:"The condition as a JavaScript expression over rec and meta."`
	To     string `yaml:"to" required:"true" doc:"The branch that records meeting the condition go to."`
	src    Config
}

// condition returns which condition the case has ("" when none) and how
// many it has.
func (c *CaseSpec) condition() (kind string, n int) {
	if !c.Select.IsZero() {
		kind, n = "select", n+1
	}
	if c.Lua != "" {
		kind, n = "lua", n+1
	}
	if c.JS != "" {
		kind, n = "js", n+1
	}
	return kind, n
}

// BranchSpec is one branch of a switch: a chain of stages of any kind,
// ending at the output it names (to:) or, without to:, merging back into
// the chain after the switch.
type BranchSpec struct {
	Name   string `yaml:"name" required:"true" doc:"The branch's name, which cases send records to."`
	Stages Steps  `yaml:"stages" doc:"The branch's stages, in order (may be empty)."`
	To     string `yaml:"to" doc:"The output the branch ends at (a name from outputs:, or output); without to: the branch merges back after the switch."`
	src    Config
}

// Steps is a branch's list of stages. Its spec type is a plain list (the
// stage schema refers to itself there: see PipelineSchema), so that
// reflecting the spec does not recurse for ever.
type Steps []StageSpec

// ConfigType implements component.Typer.
func (Steps) ConfigType() string { return component.List }

// FanoutSpec is one output of a fanout step and its policy.
type FanoutSpec struct {
	To     string `yaml:"to" required:"true" doc:"The output the copies go to: a name from outputs:, or output."`
	Policy string `yaml:"policy" enum:"block,drop,dead_letter" default:"block" doc:"When the output is slow or failing: block (wait; a write error stops the run), drop (count and go on) or dead_letter (write the copy to dead_letter and go on)."`
	src    Config
}

// isSwitch and isFanout tell what kind of step s is.
func (s *StageSpec) isSwitch() bool { return s.Switch != nil || s.Branches != nil || s.Default != "" }
func (s *StageSpec) isFanout() bool { return s.Fanout != nil }

// hasRoutes reports whether the spec uses switch, fanout or outputs:.
func (sp *Spec) hasRoutes() bool {
	if len(sp.Outputs) > 0 {
		return true
	}
	for _, s := range sp.allStages() {
		if s.isSwitch() || s.isFanout() {
			return true
		}
	}
	return false
}

// allStages returns every step of the spec, depth first: the main chain's,
// and after each switch the stages of its branches (the order of
// Pipeline.Stats and Plan.Stages).
func (sp *Spec) allStages() []*StageSpec {
	var out []*StageSpec
	var walk func(ss []StageSpec)
	walk = func(ss []StageSpec) {
		for i := range ss {
			s := &ss[i]
			out = append(out, s)
			for j := range s.Branches {
				walk(s.Branches[j].Stages)
			}
		}
	}
	walk(sp.Stages)
	return out
}

// outputNames returns the named outputs in file order.
func (sp *Spec) outputNames() []string {
	names := make([]string, 0, len(sp.Outputs))
	for n := range sp.Outputs {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := sp.outputSrc[names[i]], sp.outputSrc[names[j]]
		_, la, ca := a.Position()
		_, lb, cb := b.Position()
		if la != lb {
			return la < lb
		}
		if ca != cb {
			return ca < cb
		}
		return names[i] < names[j]
	})
	return names
}

// attachRouteSrc remembers where the routing parts of each step are in the
// file (for errors), recursively through the branches.
func attachRouteSrc(stages []StageSpec, file string) {
	for i := range stages {
		s := &stages[i]
		n := resolve(s.src.node)
		if n == nil || n.Kind != yaml.MappingNode {
			continue
		}
		for k := 0; k+1 < len(n.Content); k += 2 {
			v := resolve(n.Content[k+1])
			if v == nil || v.Kind != yaml.SequenceNode {
				continue
			}
			switch n.Content[k].Value {
			case "switch":
				for j, e := range v.Content {
					if j < len(s.Switch) {
						s.Switch[j].src = Config{node: e, file: file}
					}
				}
			case "fanout":
				for j, e := range v.Content {
					if j < len(s.Fanout) {
						s.Fanout[j].src = Config{node: e, file: file}
					}
				}
			case "branches":
				for j, e := range v.Content {
					if j >= len(s.Branches) {
						continue
					}
					b := &s.Branches[j]
					b.src = Config{node: e, file: file}
					be := resolve(e)
					if be == nil || be.Kind != yaml.MappingNode {
						continue
					}
					for m := 0; m+1 < len(be.Content); m += 2 {
						sv := resolve(be.Content[m+1])
						if be.Content[m].Value != "stages" || sv == nil || sv.Kind != yaml.SequenceNode {
							continue
						}
						for q, se := range sv.Content {
							if q < len(b.Stages) {
								b.Stages[q].src = Config{node: se, file: file}
							}
						}
						attachRouteSrc(b.Stages, file)
					}
				}
			}
		}
	}
}

// validateRoutes checks the switch and fanout steps and the named outputs:
// every case has one condition and names a branch of its switch, every
// to: names an output, a fanout is the last step of its chain, and an
// output fed from several places has one policy.
func (sp *Spec) validateRoutes() error {
	var errs errList
	policies := map[string]string{} // output name → policy of what feeds it
	where := map[string]Config{}
	used := map[string]bool{}
	link := func(at Config, out, policy string) {
		used[out] = true
		if p, ok := policies[out]; ok && p != policy {
			errs.add(errAtField(at, sp.File, "policy", "output %q is fed with policy %s here and %s elsewhere (one policy per output)", out, policy, p))
			return
		}
		policies[out], where[out] = policy, at
	}
	outputKnown := func(name string) bool {
		_, ok := sp.Outputs[name]
		return name == MainOutput || ok
	}
	outputList := func() string {
		return strings.Join(append([]string{MainOutput}, sp.outputNames()...), ", ")
	}
	for _, name := range sp.outputNames() {
		o := sp.Outputs[name]
		src := sp.outputSrc[name]
		if name == "" || name == MainOutput {
			errs.add(errAtField(src, sp.File, "", "output name %q is reserved", name))
			continue
		}
		errs.add(checkOutput(&o, src, sp.File))
	}
	// chain checks one chain (the main one, or a branch's); end is where
	// the chain's last records go (an output name, or "" for a merge).
	var chain func(stages []StageSpec, path string, end string)
	chain = func(stages []StageSpec, path string, end string) {
		fanned := false
		for i := range stages {
			s := &stages[i]
			s.branch = path
			if !s.isSwitch() && !s.isFanout() {
				continue
			}
			if s.isSwitch() && s.isFanout() {
				errs.add(s.Errorf("fanout", "a step is a switch or a fanout, not both"))
				continue
			}
			kind := "switch"
			if s.isFanout() {
				kind = "fanout"
			}
			if s.Type != "" || s.Use != "" || s.Path != "" || s.Code != "" || !s.Config.IsZero() || !s.Schema.IsZero() || len(s.Extra.Keys()) > 0 {
				field := firstNonEmpty(map[bool]string{true: "type"}[s.Type != ""], map[bool]string{true: "use"}[s.Use != ""],
					map[bool]string{true: "path"}[s.Path != ""], map[bool]string{true: "code"}[s.Code != ""],
					map[bool]string{true: "config"}[!s.Config.IsZero()], map[bool]string{true: "schema"}[!s.Schema.IsZero()])
				if field == "" {
					field = s.Extra.Keys()[0]
				}
				errs.add(s.Errorf(field, "a %s step takes no %s: (it runs no stage of its own; put stages in its branches or before it)", kind, field))
			}
			if s.isFanout() {
				if i != len(stages)-1 {
					errs.add(s.Errorf("fanout", "a fanout must be the last step of its chain (step %q follows it)", stages[i+1].Name))
				}
				fanned = true
				if len(s.Fanout) == 0 {
					errs.add(s.Errorf("fanout", "fanout needs at least one output ({to: NAME, policy: block|drop|dead_letter})"))
				}
				seen := map[string]bool{}
				for j := range s.Fanout {
					f := &s.Fanout[j]
					switch {
					case !outputKnown(f.To):
						errs.add(errAtField(f.src, sp.File, "to", "unknown output %q (want one of: %s)", f.To, outputList()))
					case seen[f.To]:
						errs.add(errAtField(f.src, sp.File, "to", "output %q is listed twice in this fanout", f.To))
					case f.To == MainOutput && firstNonEmpty(f.Policy, PolicyBlock) != PolicyBlock:
						errs.add(errAtField(f.src, sp.File, "policy", "the pipeline's output always blocks (policy %s is for a named output in outputs:)", f.Policy))
					default:
						seen[f.To] = true
						link(f.src, f.To, firstNonEmpty(f.Policy, PolicyBlock))
					}
				}
				continue
			}
			// A switch.
			if len(s.Switch) == 0 {
				errs.add(s.Errorf("switch", "switch needs at least one case ({select: ..., to: BRANCH}, {lua: EXPR, to: BRANCH} or {js: EXPR, to: BRANCH})"))
			}
			branches := map[string]bool{}
			var names []string
			for j := range s.Branches {
				b := &s.Branches[j]
				switch {
				case b.Name == "":
					errs.add(errAtField(b.src, sp.File, "", "branch %d has no name", j+1))
				case b.Name == DefaultContinue || b.Name == DefaultDrop:
					errs.add(errAtField(b.src, sp.File, "name", "branch name %q is reserved (default: %s means something else)", b.Name, b.Name))
				case branches[b.Name]:
					errs.add(errAtField(b.src, sp.File, "name", "duplicate branch name %q", b.Name))
				default:
					branches[b.Name] = true
					names = append(names, b.Name)
				}
			}
			known := func() string {
				if len(names) == 0 {
					return "this switch has no branches:"
				}
				return "want one of: " + strings.Join(names, ", ")
			}
			usedBranch := map[string]bool{}
			for j := range s.Switch {
				c := &s.Switch[j]
				kindC, n := c.condition()
				switch {
				case n == 0:
					errs.add(errAtField(c.src, sp.File, "", "case %d of switch %q has no condition (want select:, lua: or js:)", j+1, s.Name))
				case n > 1:
					errs.add(errAtField(c.src, sp.File, kindC, "case %d of switch %q has %d conditions (want one of select:, lua: or js:)", j+1, s.Name, n))
				}
				if c.To != "" && !branches[c.To] {
					errs.add(errAtField(c.src, sp.File, "to", "unknown branch %q (%s)", c.To, known()))
				}
				usedBranch[c.To] = true
			}
			switch d := s.Default; {
			case d == "" || d == DefaultContinue || d == DefaultDrop:
			case branches[d]:
				usedBranch[d] = true
			default:
				errs.add(s.Errorf("default", "unknown default %q (want continue, drop or a branch: %s)", d, strings.Join(names, ", ")))
			}
			for j := range s.Branches {
				b := &s.Branches[j]
				if b.Name != "" && !usedBranch[b.Name] {
					errs.add(errAtField(b.src, sp.File, "name", "branch %q is not used by any case nor by default:", b.Name))
				}
				bend := ""
				if b.To != "" {
					if !outputKnown(b.To) {
						errs.add(errAtField(b.src, sp.File, "to", "unknown output %q (want one of: %s)", b.To, outputList()))
					} else {
						bend = b.To
						if !endsInFanout(b.Stages) {
							link(b.src, b.To, PolicyBlock)
						}
					}
				}
				if endsInFanout(b.Stages) && b.To != "" {
					errs.add(errAtField(b.src, sp.File, "to", "branch %q ends in a fanout, which says where its records go: drop to:", b.Name))
				}
				chain(b.Stages, s.Name+"."+b.Name, bend)
			}
		}
		if !fanned && end != "" && path == "" {
			link(sp.src, end, PolicyBlock)
		}
	}
	chain(sp.Stages, "", MainOutput)
	for _, name := range sp.outputNames() {
		if !used[name] {
			errs.add(errAtField(sp.outputSrc[name], sp.File, "", "output %q is not used (no branch or fanout sends records to it)", name))
		}
	}
	return errs.err()
}

func endsInFanout(ss []StageSpec) bool { return len(ss) > 0 && ss[len(ss)-1].isFanout() }

// checkOutput checks a named output like the main one; Build checks its
// type and fields against the registered output types.
func checkOutput(out *OutputSpec, src Config, file string) error {
	switch out.Type {
	case "", "stdout":
		if out.Path != "" {
			return errAtField(src, file, "path", "output path is only for type: file")
		}
	case "file":
		if out.Path == "" {
			return errAtField(src, file, "type", "output type file needs a path")
		}
	}
	if err := checkPolicy(src, file, out.OnError); err != nil {
		return err
	}
	return checkCodec(src, file, out.Codec)
}

// switchStep and fanoutStep are the fields of the two steps, for their
// component specs (pipe stages switch, the reference, pipe schema reads
// StageSpec itself).
type switchStep struct {
	Name     string        `yaml:"name" required:"true" doc:"Unique step name, used in errors, stats and logs."`
	Switch   []CaseSpec    `yaml:"switch" required:"true" doc:"The cases, tested in order: the first whose condition holds sends the record to its branch."`
	Default  string        `yaml:"default" default:"continue" example:"drop" doc:"Where records that no case matches go: continue (down this chain), drop, or a branch name."`
	Branches []BranchSpec  `yaml:"branches" doc:"The branches: each a chain of stages ending at an output (to:) or merging back after the switch, in input order."`
	Timeout  time.Duration `yaml:"timeout" example:"50ms" doc:"Per-record timeout of the conditions (default: defaults.timeout, else 5s)."`
	OnError  string        `yaml:"on_error" enum:"fail,drop,dead_letter" doc:"What a record whose condition fails does (default: defaults.on_error, else fail)."`
	Workers  int           `yaml:"workers" doc:"Parallel routers; the order is kept (default: defaults.workers, else 1)."`
}

type fanoutStep struct {
	Name   string       `yaml:"name" required:"true" doc:"Unique step name, used in errors, stats and logs."`
	Fanout []FanoutSpec `yaml:"fanout" required:"true" doc:"The outputs every record is copied to, each with its policy; the last step of its chain."`
}

func switchSpec() component.Spec {
	s := component.New(component.ClassStep, "switch", "send each record to the branch of the first case whose condition holds", switchStep{})
	s.Doc = "A case's condition is `select:` (the native select stage's config: field, equals, matches, gt, ...), `lua:` or `js:` " +
		"(an expression over rec and meta). A branch is a chain of stages of any kind; with `to: NAME` it ends at a named output " +
		"(`outputs:`; `output` is the pipeline's own), without it merges back after the switch, in input order. " +
		"`--stats` shows a row per branch (SWITCH.BRANCH). A record whose condition fails takes the switch's `on_error`."
	s.Examples = []component.Example{{Title: "errors to their own file, slow requests tagged and merged back", YAML: `- name: route
  switch:
    - {select: {field: level, equals: error}, to: errors}
    - {lua: 'rec.latency_ms > 500', to: slow}
  branches:
    - {name: errors, to: errors}
    - name: slow
      stages: [{name: tag, type: native, use: set, config: {fields: {slow: true}}}]`}}
	return s
}

func fanoutSpec() component.Spec {
	s := component.New(component.ClassStep, "fanout", "copy every record to several outputs, each with a policy for when it is slow or failing", fanoutStep{})
	s.Doc = "The last step of its chain. `policy: block` (default) waits for the output and stops the run when a write fails; " +
		"`drop` counts the copy as dropped and goes on; `dead_letter` writes it to `dead_letter:` and goes on. A copy is refused when " +
		"the output's queue (4 batches) is full or after its write failed. The pipeline's own output (`to: output`) always blocks."
	s.Examples = []component.Example{{Title: "everything to stdout, and to an archive that may lag", YAML: `- name: copies
  fanout: [{to: output}, {to: archive, policy: drop}]`}}
	return s
}
