//go:build !race

package native

const hostRace = false
