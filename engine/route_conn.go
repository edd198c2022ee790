package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/pipe-dev/pipe/connector"
)

// namedConn is a named output's connector type and fields.
type namedConn struct {
	typ connector.OutputType
	cfg Config
}

// buildNamedOutputs resolves the type of every named output and checks
// its fields (no I/O), as buildConnectors does for output:.
func (p *Pipeline) buildNamedOutputs() error {
	spec, reg := p.spec, p.opts.reg
	var errs errList
	for _, o := range p.plan.Outputs {
		os := spec.Outputs[o.Name]
		src := spec.outputSrc[o.Name]
		tname := firstNonEmpty(os.Type, "stdout")
		ot, ok := reg.OutputType(tname)
		if !ok {
			errs.add(errAtField(src, spec.File, "type", "unknown output type %q (want one of: %s)", tname, reg.connectorNames("output")))
			continue
		}
		cfg := connectorConfig(src, os.Extra, os.Path)
		out, err := ot.New(cfg, p.connEnv("output."+o.Name, ot.Name, o.Codec, nil, nil, nil))
		if err != nil {
			errs.add(err)
			continue
		}
		_, bw := out.(connector.BatchWriter)
		_, sw := out.(connector.StreamWriter)
		if !bw && !sw {
			return fmt.Errorf("engine: output %s implements neither connector.BatchWriter nor connector.StreamWriter", ot.Name)
		}
		if bw && !sw {
			if err := checkMessagesCodec(src, spec.File, ot.Name, os.CSV); err != nil {
				errs.add(err)
				continue
			}
		}
		if p.named == nil {
			p.named = map[string]namedConn{}
		}
		p.named[o.Name] = namedConn{typ: ot, cfg: cfg}
	}
	return errs.err()
}

// openNamedOutput makes and connects a named output and returns its sink:
// the writer given with WithOutput, else its connector (with its retry:
// and on_error:, as for output:).
func (r *run) openNamedOutput(ctx context.Context, root *runState, o NamedOutputPlan) (sink, func() error, error) {
	p := r.p
	if w, ok := p.opts.outputs[o.Name]; ok {
		return newWriterSink(w, o.OutputPlan), func() error { return nil }, nil
	}
	nc, ok := p.named[o.Name]
	if !ok {
		return nil, nil, fmt.Errorf("engine: named output %s was not built", o.Name)
	}
	os := p.spec.Outputs[o.Name]
	out, err := nc.typ.New(nc.cfg, p.connEnv("output."+o.Name, nc.typ.Name, o.Codec, r, nil, nil))
	if err != nil {
		return nil, nil, err
	}
	closeOut := func() error {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		// As for output: (connectOutput), a run that failed before it
		// read a record leaves the destination as it was.
		if a, ok := out.(connector.Aborter); ok && r.in.in.Load() == 0 && root.failed() {
			return a.Abort(cctx)
		}
		return out.Close(cctx)
	}
	r.keepEarlierRuns(out)
	pol := retryPolicyOf(os.Retry)
	if err := r.retry(ctx, pol, "connect", out.Connect); err != nil {
		closeOut()
		return nil, nil, &StageError{Stage: "output." + o.Name, Op: "connect", Err: err}
	}
	switch out := out.(type) {
	case connector.StreamWriter:
		s := newWriterSink(out.Writer(), o.OutputPlan)
		s.syncFn = out.Sync
		return s, closeOut, nil
	case connector.BatchWriter:
		s := &connSink{r: r, out: out, pol: pol, policy: firstNonEmpty(os.OnError, OnErrorFail), outPlan: o.OutputPlan}
		if bt, ok := out.(connector.Batcher); ok && o.Policy == PolicyBlock { // drop, dead_letter settle each batch as written
			s.grp = newOutGroup(s, bt.BatchPolicy())
		}
		return s, closeOut, nil
	}
	closeOut()
	return nil, nil, fmt.Errorf("engine: output %s implements neither connector.BatchWriter nor connector.StreamWriter", nc.typ.Name)
}
