// Command chaos runs boxstorm's chaos scenarios against the reference store
// and reports which protections held. See `chaos --help`.
package main

import (
	"os"

	"github.com/boxstorm/boxstorm/internal/cli"
)

func main() {
	os.Exit(cli.Main(run, false))
}
