package harness_test

import (
	"context"
	"testing"

	"github.com/boxstorm/boxstorm/harness"
	"github.com/boxstorm/boxstorm/internal/testutil"
	"github.com/boxstorm/boxstorm/store"
)

func TestStoreWorkloads_RunAgainstARealStore(t *testing.T) {
	for _, wl := range harness.StoreWorkloads {
		t.Run(wl.Name, func(t *testing.T) {
			s := testutil.MustOpen(t, t.TempDir(), func(o *store.Options) { o.Sync = store.SyncNever })
			ctx := context.Background()
			w, err := harness.NewStoreWorkload(ctx, s, wl.Name, harness.StoreWorkloadOptions{Workers: 4, ValueSize: 64, Records: 500, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			e := harness.NewEngine(w)
			e.Workers, e.Ops, e.Seed = 4, 300, 1
			e.Logger = nil
			res, err := e.Run(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var total, errs int64
			for _, op := range res.Ops {
				total += op.Count()
				errs += op.Errors
				if op.Errors > 0 {
					t.Errorf("op %s: %d errors", op.Name, op.Errors)
				}
			}
			if total < 300 {
				t.Errorf("measured %d ops, want 300", total)
			}
			want := map[string][]string{
				harness.WorkloadEnqueue: {harness.OpEnqueue},
				harness.WorkloadCycle:   {harness.OpEnqueue, harness.OpClaim, harness.OpAck},
				harness.WorkloadClaim:   {harness.OpClaim, harness.OpAck},
				harness.WorkloadKVC:     {harness.OpGet},
				harness.WorkloadKVA:     {harness.OpGet, harness.OpUpdate},
			}[wl.Name]
			for _, name := range want {
				if res.Op(name) == nil || res.Op(name).Count() == 0 {
					t.Errorf("no %s ops measured", name)
				}
			}
		})
	}
	if _, err := harness.NewStoreWorkload(context.Background(), testutil.MustOpen(t, t.TempDir()), "nope", harness.StoreWorkloadOptions{Workers: 1}); err == nil {
		t.Error("unknown workload accepted")
	}
}
