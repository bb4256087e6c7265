package chaos

// Crash-state exploration (package chaos/explore), run as a step: the
// run's side of the explorer's Session.

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/boxstorm/boxstorm/harness/chaos/explore"
	"github.com/boxstorm/boxstorm/harness/chaos/fault"
	"github.com/boxstorm/boxstorm/harness/check"
	"github.com/boxstorm/boxstorm/harness/history"
	"github.com/boxstorm/boxstorm/harness/target"
	"github.com/boxstorm/boxstorm/store"
)

// ExploreResult is what one explore step explored: result.json's
// explorations (explore.Result).
type ExploreResult = explore.Result

// explore runs an explore step.
func (r *chaosRun) explore(ctx context.Context, p fault.PlannedFault, ev *history.Fault) error {
	if err := r.p.inProcessOnly("explore"); err != nil {
		return err
	}
	if r.ff == nil || r.ff.mount == nil {
		return fmt.Errorf("explore: %w: %w", errNoFaultFS, fault.ErrUnsupportedFault)
	}
	f := p.Fault
	res, cr, err := explore.Run(ctx, exploreSession{r}, r.ff.mount, explore.Step{
		Index: p.Index, Procedure: f.Procedure, States: f.States, Seed: p.Seed,
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

var _ explore.Session = exploreSession{}

func (e exploreSession) Open(ctx context.Context) error { return e.r.sess.open(ctx, nil) }
func (e exploreSession) Store() *store.Store            { l, _ := e.r.sess.st.(target.Local); return l.Store }
func (e exploreSession) Close() error                   { return e.r.sess.close() }
func (e exploreSession) Adopt(st *store.Store) {
	e.r.sess.st, e.r.sess.openErr = target.Local{Store: st}, nil
}
func (e exploreSession) Options(gen int) store.Options        { return e.r.sess.options(gen) }
func (e exploreSession) KeyGen() int                          { return e.r.sess.keyGen }
func (e exploreSession) SetKeyGen(gen int)                    { e.r.sess.keyGen = gen }
func (exploreSession) Key(gen int) []byte                     { return chaosKey(gen) }
func (exploreSession) WrongKey() []byte                       { return wrongKey }
func (e exploreSession) Migrations() []store.Migration        { return e.r.sess.migrations }
func (e exploreSession) AddSyntheticMigration()               { e.r.sess.registerSynthetic(e.r.sess.synth + 1) }
func (exploreSession) SchemaMarker() (box, key string)        { return synthBox, synthKey }
func (e exploreSession) StoreDir() string                     { return e.r.p.storeDir }
func (e exploreSession) BackupDir() string                    { return e.r.p.backupDir() }
func (e exploreSession) LatestBackup() (check.Backup, bool)   { return e.r.latestBackup() }
func (e exploreSession) Erased(subject string)                { e.r.eff.Erased = append(e.r.eff.Erased, subject) }
func (exploreSession) Payload(marker string, size int) []byte { return payloadFor(marker, size) }
