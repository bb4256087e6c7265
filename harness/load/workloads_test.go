package load_test

import (
	"context"
	"github.com/boxstorm/boxstorm/opname"
	"testing"

	"github.com/boxstorm/boxstorm/harness/load"
	"github.com/boxstorm/boxstorm/internal/testutil"
	"github.com/boxstorm/boxstorm/store"
)

func TestStoreWorkloads_RunAgainstARealStore(t *testing.T) {
	for _, wl := range load.StoreWorkloads {
		t.Run(wl.Name, func(t *testing.T) {
			s := testutil.MustOpen(t, t.TempDir(), func(o *store.Options) { o.Sync = store.SyncNever })
			ctx := context.Background()
			w, err := load.NewStoreWorkload(ctx, s, wl.Name, load.StoreWorkloadOptions{Workers: 4, ValueSize: 64, Records: 500, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			e := load.NewEngine(w)
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
				load.WorkloadEnqueue: {opname.Enqueue},
				load.WorkloadCycle:   {opname.Enqueue, opname.Claim, opname.Ack},
				load.WorkloadClaim:   {opname.Claim, opname.Ack},
				load.WorkloadKVC:     {opname.Get},
				load.WorkloadKVA:     {opname.Get, opname.Update},
			}[wl.Name]
			for _, name := range want {
				if res.Op(name) == nil || res.Op(name).Count() == 0 {
					t.Errorf("no %s ops measured", name)
				}
			}
		})
	}
	if _, err := load.NewStoreWorkload(context.Background(), testutil.MustOpen(t, t.TempDir()), "nope", load.StoreWorkloadOptions{Workers: 1}); err == nil {
		t.Error("unknown workload accepted")
	}
}
