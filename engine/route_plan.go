package engine

import (
	"encoding/json"
	"strconv"
	"strings"
)

// routeCase, routeBranch and route are the JSON form of a switch or fanout
// step in StagePlan.Route.
type routeCase struct {
	Select json.RawMessage `json:"select,omitempty"`
	Lua    string          `json:"lua,omitempty"`
	JS     string          `json:"js,omitempty"`
	To     string          `json:"to"`
}

type routeBranch struct {
	Name string `json:"name"`
	To   string `json:"to,omitempty"` // "" merges back after the switch
}

type routeTarget struct {
	To     string `json:"to"`
	Policy string `json:"policy"`
}

type route struct {
	Switch   []routeCase   `json:"switch,omitempty"`
	Default  string        `json:"default,omitempty"`
	Branches []routeBranch `json:"branches,omitempty"`
	Fanout   []routeTarget `json:"fanout,omitempty"`
}

// routeJSON returns the routing of a switch or fanout step as canonical
// JSON ("" for other stages).
func routeJSON(s *StageSpec) string {
	var r route
	switch {
	case s.isSwitch():
		for i := range s.Switch {
			c := &s.Switch[i]
			rc := routeCase{Lua: c.Lua, JS: c.JS, To: c.To}
			if sel := canonicalJSON(c.Select); sel != "" {
				rc.Select = json.RawMessage(sel)
			}
			r.Switch = append(r.Switch, rc)
		}
		r.Default = firstNonEmpty(s.Default, DefaultContinue)
		for _, b := range s.Branches {
			r.Branches = append(r.Branches, routeBranch{Name: b.Name, To: b.To})
		}
	case s.isFanout():
		for _, f := range s.Fanout {
			r.Fanout = append(r.Fanout, routeTarget{To: f.To, Policy: firstNonEmpty(f.Policy, PolicyBlock)})
		}
	default:
		return ""
	}
	b, err := json.Marshal(r)
	if err != nil {
		return ""
	}
	return string(b)
}

// parseRoute decodes StagePlan.Route.
func parseRoute(s string) route {
	var r route
	_ = json.Unmarshal([]byte(s), &r) // made by routeJSON
	return r
}

// resolveOutputs computes the named outputs' settings: the codec defaults
// to the input's, the policy is that of the fanout entries feeding it
// (block when none does).
func resolveOutputs(sp *Spec, inCodec string) []NamedOutputPlan {
	if len(sp.Outputs) == 0 {
		return nil
	}
	policy := map[string]string{}
	for _, s := range sp.allStages() {
		for _, f := range s.Fanout {
			policy[f.To] = firstNonEmpty(f.Policy, PolicyBlock)
		}
	}
	var out []NamedOutputPlan
	for _, name := range sp.outputNames() {
		o := sp.Outputs[name]
		codec := firstNonEmpty(o.Codec, inCodec)
		op := OutputPlan{
			Type: firstNonEmpty(o.Type, "stdout"), Path: resolvePath(sp.File, o.Path), Codec: codec,
			OnError:  firstNonEmpty(sp.Defaults.OnError, OnErrorFail),
			Validate: codec == CodecNDJSON && (len(sp.Stages) > 0 || inCodec != CodecNDJSON),
			Fields:   canonicalJSON(o.Extra), GiveUp: o.OnError,
		}
		if o.Retry != nil {
			op.Retry = retryPlan(o.Retry)
		}
		out = append(out, NamedOutputPlan{Name: name, Policy: firstNonEmpty(policy[name], PolicyBlock), OutputPlan: op})
	}
	return out
}

func outputsString(outs []NamedOutputPlan) string {
	var parts []string
	for _, o := range outs {
		parts = append(parts, o.Name+"="+o.Type+":"+o.Path+":"+o.Codec+":"+o.Policy)
	}
	return strings.Join(parts, ", ")
}

// stagesYAML renders the steps of one chain ("" the main one, else
// SWITCH.BRANCH) for Plan.YAML, with each switch's branches nested.
func (pl Plan) stagesYAML(branch string) [][]yamlKV {
	var stages [][]yamlKV
	for _, s := range pl.Stages {
		if s.Branch != branch {
			continue
		}
		policies := []yamlKV{{Key: "timeout", Value: yamlLiteral(s.Timeout.String())}, {Key: "on_error", Value: s.OnError},
			{Key: "workers", Value: yamlLiteral(strconv.Itoa(s.Workers))}}
		switch s.Kind {
		case "switch":
			r := parseRoute(s.Route)
			cases, _ := json.Marshal(r.Switch)
			st := []yamlKV{{Key: "name", Value: s.Name}, {Key: "switch", Value: yamlJSON(cases)}, {Key: "default", Value: r.Default}}
			var branches [][]yamlKV
			for _, b := range r.Branches {
				to, comment := b.To, ""
				if to == "" {
					comment = "merges back after " + s.Name
				}
				bs := []yamlKV{{Key: "name", Value: b.Name}, {Key: "to", Value: to}}
				bs = append(bs, yamlKV{Key: "stages", Value: pl.stagesYAML(s.Name + "." + b.Name), Comment: comment})
				branches = append(branches, bs)
			}
			st = append(st, yamlKV{Key: "branches", Value: branches})
			stages = append(stages, append(st, policies...))
			continue
		case "fanout":
			targets, _ := json.Marshal(parseRoute(s.Route).Fanout)
			stages = append(stages, []yamlKV{{Key: "name", Value: s.Name}, {Key: "fanout", Value: yamlJSON(targets)}})
			continue
		}
		kind := s.Kind
		if kind == "go" {
			kind = "" // built in Go code: no type: in a file
		}
		st := []yamlKV{{Key: "name", Value: s.Name}, {Key: "type", Value: kind}, {Key: "use", Value: s.Use},
			{Key: "path", Value: s.Path, Comment: pluginComment(s)}, {Key: "code", Value: yamlCode(s.Code)},
			{Key: "config", Value: yamlJSON(s.Config)}}
		st = append(st, policies...)
		st = append(st, yamlKV{Key: "max_record_bytes", Value: yamlLiteral(s.MaxRecordBytes.String())}, yamlKV{Key: "schema", Value: yamlJSON(s.Schema)},
			yamlKV{Key: "", Value: yamlJSON(s.Extra)}) // the kind's own fields, inline
		if s.Isolation == IsolationProcess {
			st = append(st, yamlKV{Key: "isolation", Value: s.Isolation})
		}
		stages = append(stages, st)
	}
	return stages
}
