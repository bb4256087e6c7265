package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/boxstorm/boxstorm/store"
	"github.com/spf13/pflag"
)

// inspected is one record as inspect prints it.
type inspected struct {
	Key    string       `json:"key"`
	TypeID store.TypeID `json:"type_id"`
	Type   string       `json:"type"`
	Value  any          `json:"value"`
}

func inspectCmd() command {
	var asJSON bool
	return command{
		Summary: "decode every record of a box through the type registry",
		Usage:   "inspect BOX [--json]",
		Help: `Inspect reads every record of BOX, a runbook box (pending_ops,
failed_ops, pending_index, persistence_metadata, audit_logs, subject_keys) or
a data box, and decodes each through the store's type registry by the type id
its envelope carries: one line a record with its key, type id, type name and
value as JSON. A record written before type ids (type id 0) is decoded by the
codec its box and key get now; a value no codec claims is printed as base64.
Subject keys are shown as {"redacted": true}. Payloads are personal data:
handle the output accordingly.`,
		Examples: `
			storectl --dir ./data --key-file store.key inspect pending_ops
			storectl --dir ./data --key-file store.key inspect persistence_metadata --json | jq '.[].type'`,
		Setup: func(fs *pflag.FlagSet) runFunc {
			fs.BoolVar(&asJSON, "json", false, "print JSON")
			return func(ctx context.Context, e *env, args []string) error {
				if err := prog.Nargs("inspect", args, 1, 1, "inspect BOX [--json]"); err != nil {
					return err
				}
				return e.withStore(ctx, func(s *store.Store) error {
					recs, err := s.Records(ctx, args[0])
					if err != nil {
						return err
					}
					out := make([]inspected, 0, len(recs))
					for _, rec := range recs {
						c, v, err := s.Types().Decode(rec)
						if err != nil {
							return err
						}
						name := c.Name
						if name == "" {
							name = "untyped"
						}
						out = append(out, inspected{Key: rec.Key, TypeID: c.TypeID, Type: name, Value: v})
					}
					if asJSON {
						return writeJSON(e.stdout, out)
					}
					if len(out) == 0 {
						fmt.Fprintf(e.stdout, "box %s is empty\n", args[0])
					}
					for _, r := range out {
						b, err := json.Marshal(r.Value)
						if err != nil {
							return err
						}
						fmt.Fprintf(e.stdout, "%s %d %s %s\n", r.Key, r.TypeID, r.Type, b)
					}
					return nil
				})
			}
		},
	}
}
