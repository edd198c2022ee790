// Package ctor turns a broker connector's typed constructor into the
// constructor a connector.InputType or OutputType registers: decode the
// section into the config struct, then build, positioning a validation
// error at the field it names.
package ctor

import (
	"github.com/pipe-dev/pipe/connector"
	"github.com/pipe-dev/pipe/stage"
)

// New is a connector's typed constructor: it validates c (no I/O) and on
// error returns the name of the field at fault ("" for the section).
type New[C, T any] func(c C, env connector.Env) (T, string, error)

// Input adapts fn for connector.InputType.New.
func Input[C any, T connector.Input](fn New[C, T]) func(stage.Config, connector.Env) (connector.Input, error) {
	return func(cfg stage.Config, env connector.Env) (connector.Input, error) {
		v, err := build(fn, cfg, env)
		if err != nil {
			return nil, err
		}
		return v, nil
	}
}

// Output adapts fn for connector.OutputType.New.
func Output[C any, T connector.Output](fn New[C, T]) func(stage.Config, connector.Env) (connector.Output, error) {
	return func(cfg stage.Config, env connector.Env) (connector.Output, error) {
		v, err := build(fn, cfg, env)
		if err != nil {
			return nil, err
		}
		return v, nil
	}
}

func build[C, T any](fn New[C, T], cfg stage.Config, env connector.Env) (T, error) {
	var c C
	var zero T
	if err := cfg.Decode(&c); err != nil {
		return zero, err
	}
	v, key, err := fn(c, env)
	if err != nil {
		return zero, cfg.Errorf(key, "%v", err)
	}
	return v, nil
}
