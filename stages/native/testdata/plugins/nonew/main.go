// Command nonew is a Go plugin without the New constructor (a bad-input case).
package main

var PipeAPIVersion = "2.0.0"

func Make() {}
