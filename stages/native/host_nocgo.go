//go:build !cgo

package native

const hostCgo = false
