// Command badapi is a Go plugin built against a host API this pipe does
// not offer (a bad-input case).
package main

var PipeAPIVersion = "3.0.0"

func New() {}
