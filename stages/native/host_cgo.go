//go:build cgo

package native

const hostCgo = true
