//go:build race

package wasm_test

// raceEnabled: under the race detector the native side of the C workload
// comparison runs many times slower, so it compares fewer records.
const raceEnabled = true
