package main

import (
	"context"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/boxstorm/boxstorm/internal/cli"
	"github.com/boxstorm/boxstorm/reports"
	"github.com/boxstorm/boxstorm/scenarios"
)

var replayCommand = command{
	Summary: "re-run a run from its report",
	Usage:   "replay RUN_DIR [--out DIR]",
	Help: `replay reads RUN_DIR/summary.json and runs the same scenarios again with the
recorded seed, --quick and --canary settings, so the fault schedule is the
same (compare the faults.jsonl files). Scenarios that came from files are
loaded from the recorded path again.`,
	Examples: `chaos replay out/chaos-20260101T000000Z
chaos replay artifacts/shard-2/chaos --out out/replay`,
	Setup: func(fs *pflag.FlagSet) runFunc {
		out := fs.String("out", "", "write the results into `DIR` (default out/chaos-<UTC time>)")
		return func(ctx context.Context, e *env, args []string) error {
			if len(args) != 1 {
				return cli.UsageErrorf("usage: chaos replay RUN_DIR", "replay: want one run directory, got %d arguments", len(args))
			}
			sum, err := reports.ReadChaosSummary(filepath.Join(args[0], "summary.json"))
			if err != nil {
				return cli.UsageErrorf("RUN_DIR is the --out directory of a chaos run", "replay: %v", err)
			}
			var list []*scenarios.Scenario
			files := map[string]string{}
			for _, en := range sum.Scenarios {
				var sc *scenarios.Scenario
				if en.File != "" {
					sc, err = loadScenarioFile("replay", en.File)
					files[en.Name] = en.File
				} else {
					sc, err = scenarios.Lookup(en.Name)
				}
				if err != nil {
					return err
				}
				list = append(list, sc)
			}
			return runSuite(ctx, e, list, suiteOptions{seed: sum.Seed, seedSet: true, out: *out, quick: sum.Quick, canary: sum.Canary, files: files})
		}
	},
}
