package main

import (
	"os"

	"github.com/boxstorm/boxstorm/internal/cli"
)

func main() {
	os.Exit(cli.Main(run, false))
}
