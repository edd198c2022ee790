package engine

import (
	"cmp"
	"errors"
	"slices"
	"strings"
)

// ConfigErrors is every error found in one pipeline file, in file order.
// Error() prints one per line ("FILE:LINE:COL: message"). errors.As with a
// *ConfigError finds the first; ranging over the slice gives them all.
// Parse and Build return it when a file has more than one mistake, and a
// single *ConfigError when it has one.
type ConfigErrors []*ConfigError

func (e ConfigErrors) Error() string {
	lines := make([]string, len(e))
	for i, ce := range e {
		lines[i] = ce.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the errors, so errors.As and errors.Is look at each.
func (e ConfigErrors) Unwrap() []error {
	out := make([]error, len(e))
	for i, ce := range e {
		out[i] = ce
	}
	return out
}

// AllConfigErrors returns the *ConfigError values in err: the elements of a
// ConfigErrors, or err itself; nil when err holds none.
func AllConfigErrors(err error) []*ConfigError {
	var list ConfigErrors
	if errors.As(err, &list) {
		return list
	}
	var ce *ConfigError
	if errors.As(err, &ce) {
		return []*ConfigError{ce}
	}
	return nil
}

// errList collects config errors.
type errList []*ConfigError

// add appends the config errors in err (a ConfigErrors, a *ConfigError or
// another error, kept as a message without position); it reports whether
// err was not nil.
func (l *errList) add(err error) bool {
	if err == nil {
		return false
	}
	if all := AllConfigErrors(err); all != nil {
		for _, ce := range all {
			if !slices.ContainsFunc(*l, func(x *ConfigError) bool { return sameError(x, ce) }) {
				*l = append(*l, ce)
			}
		}
		return true
	}
	*l = append(*l, &ConfigError{Msg: err.Error(), Err: err})
	return true
}

// err returns nil, the one error, or a ConfigErrors sorted by position
// (errors without a position last, in the order found).
func (l errList) err() error {
	switch len(l) {
	case 0:
		return nil
	case 1:
		return l[0]
	}
	out := ConfigErrors(slices.Clone(l))
	slices.SortStableFunc(out, func(a, b *ConfigError) int {
		if a.File != b.File {
			return strings.Compare(a.File, b.File)
		}
		la, lb := a.Line, b.Line
		if la == 0 {
			la = 1 << 30
		}
		if lb == 0 {
			lb = 1 << 30
		}
		return cmp.Or(cmp.Compare(la, lb), cmp.Compare(a.Col, b.Col))
	})
	return out
}

func sameError(a, b *ConfigError) bool {
	return a.File == b.File && a.Line == b.Line && a.Col == b.Col && a.Msg == b.Msg
}
