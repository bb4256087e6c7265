// This file holds the global flags and turns them into an open store.

package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/boxstorm/boxstorm/internal/cli"
	"github.com/boxstorm/boxstorm/store"
	"github.com/spf13/pflag"
)

// globalFlags are the flags every command accepts.
type globalFlags struct {
	dir           string
	keyFile       string
	keyEnv        string
	passphraseEnv string
	sync          string
	recovery      string
	verbose       bool
}

func (g *globalFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&g.dir, "dir", "", "store directory `DIR` (needed by every command that opens a store)")
	fs.StringVar(&g.keyFile, "key-file", "", "read the master key from `FILE` (mode 0600, see keygen)")
	fs.StringVar(&g.keyEnv, "key-env", "", "read the master key, 64 hex digits, from environment variable `NAME`")
	fs.StringVar(&g.passphraseEnv, "passphrase-env", "", "derive the master key from the passphrase in environment variable `NAME`")
	fs.StringVar(&g.sync, "sync", store.SyncAlways.String(), "durability `MODE`: always, interval or never")
	fs.StringVar(&g.recovery, "recovery", store.TolerateTornTail.String(), "recovery `MODE` for damaged box files: strict, tolerate-torn-tail,\npoint-in-time or skip-damaged")
	fs.BoolVarP(&g.verbose, "verbose", "v", false, "log the store's operational messages to stderr")
}

// keySource returns the one key source the flags name.
func (g *globalFlags) keySource() (store.KeySource, error) {
	var set []string
	for _, f := range []struct{ name, val string }{
		{"--key-file", g.keyFile}, {"--key-env", g.keyEnv}, {"--passphrase-env", g.passphraseEnv},
	} {
		if f.val != "" {
			set = append(set, f.name)
		}
	}
	switch {
	case len(set) == 0:
		return nil, cli.UsageErrorf("pass --key-file FILE (create one with `storectl keygen FILE`), --key-env NAME or --passphrase-env NAME",
			"no key source: this command opens the store")
	case len(set) > 1:
		return nil, cli.UsageErrorf("keep one of "+strings.Join(set, ", "), "more than one key source: give exactly one")
	}
	switch {
	case g.keyFile != "":
		return store.KeyFile(g.keyFile), nil
	case g.keyEnv != "":
		return store.KeyEnv(g.keyEnv), nil
	}
	p, ok := os.LookupEnv(g.passphraseEnv)
	if !ok || p == "" {
		return nil, cli.WithHint(fmt.Errorf("environment variable %s is not set or empty", g.passphraseEnv),
			fmt.Sprintf("export %s with the store's passphrase; it is never taken as a flag value", g.passphraseEnv))
	}
	return store.Passphrase(p), nil
}

// options builds the store options from the flags.
func (e *env) options() (store.Options, error) {
	o, err := e.keylessOptions()
	if err != nil {
		return o, err
	}
	if o.Key, err = e.g.keySource(); err != nil {
		return o, err
	}
	return o, nil
}

// keylessOptions builds the store options from the flags but the key's.
func (e *env) keylessOptions() (store.Options, error) {
	var o store.Options
	var err error
	if o.Sync, err = store.ParseSyncMode(e.g.sync); err != nil {
		return o, cli.UsageErrorf("--sync is always, interval or never", "--sync %q: not a sync mode", e.g.sync)
	}
	if o.Recovery, err = store.ParseRecoveryMode(e.g.recovery); err != nil {
		return o, cli.UsageErrorf("--recovery is strict, tolerate-torn-tail, point-in-time or skip-damaged", "--recovery %q: not a recovery mode", e.g.recovery)
	}
	o.Logger = e.logger()
	return o, nil
}

// logger sends the store's messages to stderr: warnings only, everything
// with -v.
func (e *env) logger() *slog.Logger {
	level := slog.LevelWarn
	if e.g.verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
}

// openStore opens the store the flags name. Unless create is set, the
// directory must already hold something, so a mistyped --dir is reported
// instead of becoming a new, empty store.
func (e *env) openStore(ctx context.Context, create bool) (*store.Store, error) {
	o, err := e.storeOptions(create)
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, e.g.dir, o)
}

// storeOptions checks --dir (which must hold a store unless create is set)
// and returns the store options.
func (e *env) storeOptions(create bool) (store.Options, error) {
	if e.g.dir == "" {
		return store.Options{}, cli.UsageErrorf("pass --dir DIR, the store directory", "no store directory")
	}
	o, err := e.options()
	if err != nil {
		return o, err
	}
	if !create {
		entries, err := os.ReadDir(e.g.dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return o, err
		}
		if len(entries) == 0 {
			return o, cli.WithHint(fmt.Errorf("no store in %s: %w", e.g.dir, store.ErrNotFound),
				"check --dir, or create the store with `storectl --dir "+e.g.dir+" --key-file FILE init`")
		}
	}
	return o, nil
}

// withStore opens the existing store, runs fn and closes the store,
// reporting the first error.
func (e *env) withStore(ctx context.Context, fn func(*store.Store) error) error {
	return e.useStore(ctx, false, fn)
}

// useStore is withStore that, with create set, may create the store.
func (e *env) useStore(ctx context.Context, create bool, fn func(*store.Store) error) (err error) {
	s, err := e.openStore(ctx, create)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := s.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close store: %w", cerr)
		}
	}()
	return fn(s)
}
