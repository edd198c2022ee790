// Command noapi is a Go plugin that does not say which host API it was
// built against (a bad-input case).
package main

import "github.com/pipe-dev/pipe/stage"

func New(cfg stage.Config) (stage.Transformer, error) { return nil, nil }
