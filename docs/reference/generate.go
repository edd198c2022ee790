// Package reference holds the generated Markdown reference of pipe's
// components (README.md is the index). Regenerate it after changing a
// component's spec:
//
//	go generate ./docs/reference
//
// internal/refdocs has the test that fails when these pages drift from the
// code.
package reference

//go:generate go run ../../internal/refdocs/gen -out .
