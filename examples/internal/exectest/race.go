//go:build race

package exectest

// raceEnabled is set when this binary was built with -race: the binaries
// under test are then built with it too.
const raceEnabled = true
