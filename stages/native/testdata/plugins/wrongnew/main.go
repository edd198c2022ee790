// Command wrongnew is a Go plugin whose New has the wrong type (a bad-input case).
package main

var PipeAPIVersion = "2.0.0"

func New(cfg map[string]any) (any, error) { return nil, nil }
