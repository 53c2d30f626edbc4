//go:build race

package main

// raceEnabled: the tests run under the race detector; skip the slow
// non-race static build (it shares nothing with the race build cache).
const raceEnabled = true
