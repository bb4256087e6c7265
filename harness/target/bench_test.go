package target_test

import (
	"context"
	"encoding/hex"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/boxstorm/boxstorm/harness/target"
	"github.com/boxstorm/boxstorm/store"
)

// BenchmarkTargetRoundTrip prices the protocol: one durable enqueue in
// process, beside the same enqueue through a target process (the test
// binary serving StoreTarget, as storectl serve does), in one run.
func BenchmarkTargetRoundTrip(b *testing.B) {
	key := store.NewKey()
	payload := make([]byte, 256)
	ctx := context.Background()

	b.Run("in-process", func(b *testing.B) {
		st, err := store.Open(ctx, b.TempDir(), store.Options{Key: store.KeyBytes(key), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		b.ResetTimer()
		for b.Loop() {
			if _, err := st.Enqueue(ctx, payload, store.EnqueueOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("protocol", func(b *testing.B) {
		cmd, o := self(b, "store")
		o.Env = append(o.Env, "BOXSTORM_FAKE_KEY="+hex.EncodeToString(key))
		c, err := target.Start(ctx, cmd, o)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		if rep, err := c.Open(ctx, filepath.Join(b.TempDir(), "s"), ""); err != nil || rep.Error != nil {
			b.Fatal(err, rep.Error)
		}
		b.ResetTimer()
		for b.Loop() {
			rep, err := c.Call(ctx, target.Request{Type: target.TypeEnqueue, Payload: payload})
			if err != nil || rep.Error != nil {
				b.Fatal(err, rep.Error)
			}
		}
	})
}
