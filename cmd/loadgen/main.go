package main

import (
	"os"

	"github.com/boxstorm/boxstorm/internal/cli"
)

func main() {
	// After the first Ctrl-C the run stops and writes its partial reports; a
	// second one gets the default behaviour and kills the process.
	os.Exit(cli.Main(run, true))
}
