// Command program is an ordinary Go program, not a plugin (a bad-input case).
package main

func main() {}
