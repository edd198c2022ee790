package cli

import (
	"bytes"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The metrics server writes the Prometheus text exposition format (version
// 0.0.4) itself: pipe's series are read from the pipeline when scraped, so
// all a client library would add is its registry, and linking
// client_golang cost every run of pipe, also the many that serve no
// metrics, its package init (a registry with Go and process collectors,
// procfs, protobuf descriptors): about 0.9 ms of CPU and 1.5 MB of
// resident memory at start-up (RATIONALE.md, "Start-up").

// Metric types of the exposition format.
const (
	promCounter   = "counter"
	promGauge     = "gauge"
	promHistogram = "histogram"
	promSummary   = "summary"
)

// promSet collects the series of one scrape, grouped in families, and
// writes them sorted by family name, a family's series by their labels,
// like client_golang's registry.
type promSet struct {
	families map[string]*promFamily
}

type promFamily struct {
	name, help, typ string
	series          []promSeries
}

// promSeries is one series: its labels (sorted by name), and the lines it
// writes (one for a counter or gauge; buckets, quantiles, sum and count
// for a histogram or summary).
type promSeries struct {
	labels string // `a="x",b="y"`, sorted by name, escaped
	lines  []promLine
}

type promLine struct {
	suffix string // "", "_bucket", "_sum", "_count"
	extra  string // le="0.5" or quantile="0.5", written after labels
	value  float64
}

func newPromSet() *promSet { return &promSet{families: map[string]*promFamily{}} }

// family returns the family name, made with help and typ if new.
func (s *promSet) family(name, help, typ string) *promFamily {
	f := s.families[name]
	if f == nil {
		f = &promFamily{name: name, help: help, typ: typ}
		s.families[name] = f
	}
	return f
}

// add adds a counter or gauge sample; labels are name, value pairs.
func (s *promSet) add(name, help, typ string, v float64, labels ...string) {
	f := s.family(name, help, typ)
	f.series = append(f.series, promSeries{labels: promLabels(labels), lines: []promLine{{value: v}}})
}

// histogram adds a histogram series: cumulative counts per upper bound
// (bounds ascending; the +Inf bucket is count), the sum and the count.
func (s *promSet) histogram(name, help string, bounds []float64, cumulative []uint64, count uint64, sum float64, labels ...string) {
	f := s.family(name, help, promHistogram)
	lines := make([]promLine, 0, len(bounds)+3)
	for i, b := range bounds {
		lines = append(lines, promLine{suffix: "_bucket", extra: `le="` + promFloat(b) + `"`, value: float64(cumulative[i])})
	}
	lines = append(lines, promLine{suffix: "_bucket", extra: `le="+Inf"`, value: float64(count)},
		promLine{suffix: "_sum", value: sum}, promLine{suffix: "_count", value: float64(count)})
	f.series = append(f.series, promSeries{labels: promLabels(labels), lines: lines})
}

// summary adds a summary series: values at quantiles, the sum and the
// count.
func (s *promSet) summary(name, help string, quantiles, values []float64, count uint64, sum float64, labels ...string) {
	f := s.family(name, help, promSummary)
	lines := make([]promLine, 0, len(quantiles)+2)
	for i, q := range quantiles {
		lines = append(lines, promLine{extra: `quantile="` + promFloat(q) + `"`, value: values[i]})
	}
	lines = append(lines, promLine{suffix: "_sum", value: sum}, promLine{suffix: "_count", value: float64(count)})
	f.series = append(f.series, promSeries{labels: promLabels(labels), lines: lines})
}

// WriteTo writes the set in the text format.
func (s *promSet) WriteTo(w io.Writer) (int64, error) {
	names := make([]string, 0, len(s.families))
	for n := range s.families {
		names = append(names, n)
	}
	slices.Sort(names)
	var bw bytes.Buffer
	for _, n := range names {
		f := s.families[n]
		bw.WriteString("# HELP " + f.name + " " + promEscape(f.help, false) + "\n# TYPE " + f.name + " " + f.typ + "\n")
		slices.SortStableFunc(f.series, func(a, b promSeries) int { return strings.Compare(a.labels, b.labels) })
		for _, sr := range f.series {
			for _, l := range sr.lines {
				bw.WriteString(f.name + l.suffix)
				switch {
				case sr.labels != "" && l.extra != "":
					bw.WriteString("{" + sr.labels + "," + l.extra + "}")
				case sr.labels != "":
					bw.WriteString("{" + sr.labels + "}")
				case l.extra != "":
					bw.WriteString("{" + l.extra + "}")
				}
				bw.WriteString(" " + promFloat(l.value) + "\n")
			}
		}
	}
	return bw.WriteTo(w)
}

// promLabels formats name, value pairs as `a="x",b="y"`, sorted by name.
func promLabels(kv []string) string {
	if len(kv) == 0 {
		return ""
	}
	pairs := make([][2]string, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		pairs = append(pairs, [2]string{kv[i], kv[i+1]})
	}
	slices.SortFunc(pairs, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p[0] + `="` + promEscape(p[1], true) + `"`)
	}
	return b.String()
}

// promEscape escapes a label value (backslash, double quote, newline) or
// a help text (backslash, newline).
func promEscape(s string, quote bool) string {
	if !strings.ContainsAny(s, "\\\n\"") {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '"' && quote:
			b.WriteString(`\"`)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// promFloat formats v as client_golang does: the shortest 'g' form, +Inf,
// -Inf, NaN.
func promFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
