// Command nonew is a Go plugin without the New constructor (a bad-input case).
package main

var PipeAPIVersion = "1.0.0"

func Make() {}
