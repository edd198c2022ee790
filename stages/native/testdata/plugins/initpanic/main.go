// Command initpanic is a Go plugin whose init function panics (a bad-input case).
package main

var PipeAPIVersion = "2.0.0"

func init() { panic("initpanic: init fails") }

func New() {}
