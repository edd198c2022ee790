//go:build !linux

package main

// releaseStartupPages is Linux-only (see release_linux.go).
func releaseStartupPages() {}
