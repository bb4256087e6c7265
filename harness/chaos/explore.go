package chaos

// Crash-state exploration (package chaos/explore), run as a step: the
// run's side of the explorer's Session.

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/boxstorm/boxstorm/harness/chaos/explore"
	"github.com/boxstorm/boxstorm/harness/chaos/fault"
	"github.com/boxstorm/boxstorm/harness/check"
	"github.com/boxstorm/boxstorm/harness/history"
	"github.com/boxstorm/boxstorm/harness/target"
	"github.com/boxstorm/boxstorm/store"
)

// ExploreResult is an explore step's result.json explorations entry.
type ExploreResult = explore.Result

// explore runs an explore step.
func (r *chaosRun) explore(ctx context.Context, p fault.PlannedFault, ev *history.Fault) error {
	if r.ff == nil || r.ff.mount == nil {
		return fmt.Errorf("explore: %w: %w", errNoFaultFS, fault.ErrUnsupportedFault)
	}
	res, cr, err := explore.Run(ctx, exploreSession{r}, r.ff.mount, explore.Step{
		Index: p.Index, Procedure: p.Fault.Procedure, States: p.Fault.States, Seed: p.Seed,
		Dir: filepath.Join(r.p.dir, fmt.Sprintf("explore-%02d", p.Index)),
	}, ev.Detail)
	r.ff.explorations = append(r.ff.explorations, res)
	if cr != nil {
		r.ff.checks = append(r.ff.checks, *cr)
	}
	return err
}

// exploreSession is the run as an explore.Session.
type exploreSession struct{ r *chaosRun }

func (e exploreSession) Open(ctx context.Context) error { return e.r.sess.open(ctx, nil) }
func (e exploreSession) Backend() target.Backend        { return e.r.sess.st }
func (e exploreSession) Close() error                   { return e.r.sess.close() }
func (e exploreSession) OpenDir(ctx context.Context, dir string, gen int, key []byte) (target.Backend, error) {
	o := e.r.sess.options(gen)
	o.Logger = slog.New(slog.DiscardHandler)
	return e.r.p.openBackend(ctx, dir, key, o)
}
func (e exploreSession) Recover(ctx context.Context, path string) (err error) {
	e.r.sess.st, _, err = e.r.p.recoverBackend(ctx, path, chaosKey(e.r.sess.keyGen), e.r.sess.options(e.r.sess.keyGen))
	e.r.sess.openErr = err
	return err
}
func (e exploreSession) KeyGen() int       { return e.r.sess.keyGen }
func (e exploreSession) SetKeyGen(gen int) { e.r.sess.keyGen = gen }
func (exploreSession) Key(gen int) []byte  { return chaosKey(gen) }
func (e exploreSession) WrongKey() []byte {
	if e.r.p.opts.Target != "" && !e.r.p.remoteInfo().Makes(target.PromiseKeyed) {
		return nil // a target that does not promise to refuse one is not tried with it
	}
	return wrongKey
}
func (e exploreSession) Migrations() []store.Migration        { return e.r.sess.migrations }
func (e exploreSession) AddSyntheticMigration()               { e.r.sess.registerSynthetic(e.r.sess.synth + 1) }
func (exploreSession) SchemaMarker() (box, key string)        { return synthBox, synthKey }
func (e exploreSession) StoreDir() string                     { return e.r.p.storeDir }
func (e exploreSession) BackupDir() string                    { return e.r.p.backupDir() }
func (e exploreSession) LatestBackup() (check.Backup, bool)   { return e.r.latestBackup() }
func (e exploreSession) Erased(subject string)                { e.r.eff.Erased = append(e.r.eff.Erased, subject) }
func (exploreSession) Payload(marker string, size int) []byte { return payloadFor(marker, size) }
