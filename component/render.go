package component

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Title is how references name a component: "native transformer select",
// "stage kind lua", "input file", ...
func (s Spec) Title() string {
	switch s.Class {
	case ClassNative:
		return "native transformer " + s.Name
	case ClassKind:
		return "stage kind " + s.Name
	}
	return string(s.Class) + " " + s.Name
}

// Usage is the YAML that selects the component in a pipeline file.
func (s Spec) Usage() string {
	switch s.Class {
	case ClassNative:
		return fmt.Sprintf("{type: native, use: %s, config: {...}}", s.Name)
	case ClassKind:
		return fmt.Sprintf("{type: %s, ...}", s.Name)
	case ClassInput:
		return fmt.Sprintf("input: {type: %s, ...}", s.Name)
	case ClassOutput:
		return fmt.Sprintf("output: {type: %s, ...}", s.Name)
	case ClassCodec:
		return fmt.Sprintf("input: {codec: %s}", s.Name)
	case ClassStep:
		return fmt.Sprintf("stages: [{name: NAME, %s: ...}]", s.Name)
	}
	return s.Name
}

// flatten lists the fields with nested ones as parent.child.
func flatten(prefix string, fs []Field) []Field {
	var out []Field
	for _, f := range fs {
		g := f
		g.Name = prefix + f.Name
		out = append(out, g)
		out = append(out, flatten(g.Name+".", f.Fields)...)
	}
	return out
}

func (s Spec) fieldsWhere() string {
	switch s.Class {
	case ClassNative:
		return "config: fields"
	case ClassKind:
		return "fields a stage of this kind adds to the common ones"
	}
	return "fields"
}

// WriteText writes the component's reference as plain text: title,
// summary, doc, an options table (name, type, default, required, enum,
// example, doc) and the examples. It is what `pipe stages NAME` prints.
func (s Spec) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n\n  %s\n", s.Title(), s.Summary, s.Usage())
	if s.Doc != "" {
		b.WriteString("\n")
		for _, line := range strings.Split(strings.TrimSpace(s.Doc), "\n") {
			b.WriteString(wrap(line, "  ", 78))
		}
	}
	fields := flatten("", s.Fields)
	if len(fields) == 0 {
		if s.Open {
			b.WriteString("\nConfiguration is not described: the component checks it when built.\n")
		} else {
			b.WriteString("\nNo options.\n")
		}
	} else {
		fmt.Fprintf(&b, "\nOptions (%s):\n\n", s.fieldsWhere())
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  NAME\tTYPE\tDEFAULT\tVALUES\tEXAMPLE\tDESCRIPTION")
		for _, f := range fields {
			def := f.Default
			if f.Required {
				def = "(required)"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", f.Name, f.TypeName(), dash(def), dash(strings.Join(f.Enum, ", ")), dash(f.Example), f.Doc)
		}
		tw.Flush()
		if s.Open {
			b.WriteString("\nOther fields are accepted and checked by the component when built.\n")
		}
	}
	for _, ex := range s.Examples {
		fmt.Fprintf(&b, "\nExample: %s\n\n", ex.Title)
		for _, line := range strings.Split(strings.TrimRight(ex.YAML, "\n"), "\n") {
			b.WriteString(strings.TrimRight("    "+line, " ") + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// optionsSentence says where the options go, for the Markdown page.
func (s Spec) optionsSentence() string {
	switch s.Class {
	case ClassNative:
		return "The fields of the stage's `config:` mapping."
	case ClassKind:
		return "Fields a stage of this kind takes besides the fields every stage has (name, type, use, path, code, config, timeout, on_error, workers, max_record_bytes, schema; see [the pipeline file](pipeline.md))."
	case ClassCodec:
		return "None."
	case ClassStep:
		return fmt.Sprintf("Fields of a `%s` step in a chain (`stages:` or a branch's `stages:`).", s.Name)
	}
	return fmt.Sprintf("Fields of the `%s:` section with `type: %s`.", s.Class, s.Name)
}

// FieldTable renders fields (nested ones as parent.child) as a Markdown
// table: name, type, default, values, example, description.
func FieldTable(fs []Field) string {
	var b strings.Builder
	b.WriteString("| name | type | default | values | example | description |\n|---|---|---|---|---|---|\n")
	for _, f := range flatten("", fs) {
		def := code(f.Default)
		if f.Required {
			def = "required"
		}
		var enum []string
		for _, e := range f.Enum {
			enum = append(enum, code(e))
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n", f.Name, f.TypeName(), dash(def), dash(strings.Join(enum, ", ")),
			dash(code(f.Example)), mdCell(f.Doc))
	}
	return b.String()
}

// Markdown returns the component's reference page.
func (s Spec) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n%s\n\n```yaml\n%s\n```\n", s.Title(), mdSentence(s.Summary), s.Usage())
	if s.Doc != "" {
		fmt.Fprintf(&b, "\n%s\n", strings.TrimSpace(s.Doc))
	}
	fields := flatten("", s.Fields)
	switch {
	case len(fields) > 0:
		fmt.Fprintf(&b, "\n## Options\n\n%s\n\n%s", s.optionsSentence(), FieldTable(s.Fields))
		if s.Open {
			b.WriteString("\nOther fields are accepted and checked by the component when it is built.\n")
		}
	case s.Open:
		b.WriteString("\n## Options\n\nNot described: the component checks its configuration when it is built.\n")
	default:
		b.WriteString("\n## Options\n\nNone.\n")
	}
	if len(s.Examples) > 0 {
		b.WriteString("\n## Examples\n")
		for _, ex := range s.Examples {
			fmt.Fprintf(&b, "\n%s:\n\n```yaml\n%s\n```\n", upperFirst(strings.TrimSuffix(ex.Title, ".")), strings.TrimRight(ex.YAML, "\n"))
		}
	}
	return b.String()
}

func code(s string) string {
	if s == "" {
		return ""
	}
	return "`" + strings.ReplaceAll(s, "|", `\|`) + "`"
}

func mdCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func mdSentence(s string) string {
	s = upperFirst(strings.TrimSpace(s))
	if s != "" && !strings.HasSuffix(s, ".") && !strings.HasSuffix(s, ":") {
		s += "."
	}
	return s
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// Index returns the Markdown index of the reference pages: one table per
// class, each row linking to CLASS-NAME.md (PageName).
func Index(specs []Spec) string {
	var b strings.Builder
	b.WriteString("# Component reference\n\nGenerated from the components' specs by `go generate ./docs/reference`; do not edit.\n`pipe stages NAME` prints the same reference on the command line. The fields every pipeline file\nand every stage has are in [the pipeline file](pipeline.md).\n")
	titles := map[Class]string{ClassInput: "Inputs", ClassOutput: "Outputs", ClassCodec: "Codecs", ClassKind: "Stage kinds", ClassNative: "Native transformers", ClassStep: "Steps"}
	for _, c := range Classes {
		first := true
		for _, s := range specs {
			if s.Class != c {
				continue
			}
			if first {
				fmt.Fprintf(&b, "\n## %s\n\n| name | summary |\n|---|---|\n", titles[c])
				first = false
			}
			fmt.Fprintf(&b, "| [%s](%s) | %s |\n", s.Name, s.PageName(), mdCell(s.Summary))
		}
	}
	return b.String()
}

// PageName is the file name of the component's reference page.
func (s Spec) PageName() string { return string(s.Class) + "-" + s.Name + ".md" }

// wrap breaks text into lines of at most width runes (a longer word stays
// whole), each starting with indent.
func wrap(text, indent string, width int) string {
	var b strings.Builder
	line := indent
	for _, w := range strings.Fields(text) {
		if line != indent && len(line)+1+len(w) > width {
			b.WriteString(line + "\n")
			line = indent
		}
		if line != indent {
			line += " "
		}
		line += w
	}
	if line != indent || b.Len() == 0 {
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
	return b.String()
}
