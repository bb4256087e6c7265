package main

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/joncrlsn/dque"
	"github.com/tidwall/buntdb"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
	_ "modernc.org/sqlite"

	"github.com/boxstorm/boxstorm/store"
)

// A peer is one store a user could pick instead of boxstorm. Each open
// function is nil when the peer has no such measure.
type peer struct {
	name string
	// durability says exactly what a durable put promises on return.
	durability string
	// fsyncNote says how the fsyncs are counted.
	fsyncNote string
	// durable opens dir for puts by the given number of producers.
	durable func(dir string, producers int) (durableDB, error)
	cycle   func(dir string) (cycleDB, error)
	// load opens dir for the memory and open measures; fill fills it first.
	load func(dir string) (closer, error)
	fill func(dir string, n int) error
}

type closer interface{ close() error }

// durableDB puts a record and returns once it is as durable as the peer says.
type durableDB interface {
	closer
	put(i int64) error
	// fsyncs is the number of fsyncs so far, counted or estimated.
	fsyncs() int64
}

// cycleDB runs one enqueue + claim + ack (or the peer's nearest equivalent)
// without fsync.
type cycleDB interface {
	closer
	cycle(i int64) error
}

// value is the 256-byte payload of every record; keys are 16 bytes.
var value = make([]byte, 256)

func key(i int64) string { return fmt.Sprintf("k%015d", i) }

var masterKey = store.KeyBytes([]byte("0123456789abcdef0123456789abcdef"))

var peers = []peer{
	{
		name:       "boxstorm",
		durability: "SyncAlways: Enqueue returns after fsync of the box file (group commit); an fsync error sticks",
		fsyncNote:  "counted (Stats.Fsyncs)",
		durable: func(dir string, producers int) (durableDB, error) {
			s, err := openBoxstorm(dir, store.SyncAlways)
			return &boxDurable{s: s}, err
		},
		cycle: func(dir string) (cycleDB, error) {
			s, err := openBoxstorm(dir, store.SyncNever)
			if err != nil {
				return nil, err
			}
			l, err := s.AcquireLock(context.Background(), store.LockRequest{Owner: "peers"})
			return &boxCycle{s: s, token: l.Token}, err
		},
		load: func(dir string) (closer, error) {
			s, err := openBoxstorm(dir, store.SyncAlways)
			return &boxDurable{s: s}, err
		},
		fill: func(dir string, n int) error {
			s, err := openBoxstorm(dir, store.SyncNever)
			if err != nil {
				return err
			}
			batch := make([][]byte, 1000)
			for i := range batch {
				batch[i] = value
			}
			for done := 0; done < n; done += len(batch) {
				if _, err := s.EnqueueBatch(context.Background(), batch[:min(len(batch), n-done)]); err != nil {
					return err
				}
			}
			return s.Close()
		},
	},
	{
		name:       "buntdb",
		durability: "SyncPolicy Always: fsync inside the Update, one commit at a time; fsync errors are ignored",
		fsyncNote:  "estimated: one per Update (buntdb.go, Always)",
		durable: func(dir string, producers int) (durableDB, error) {
			db, err := openBunt(dir, buntdb.Always)
			return &buntDB{db: db}, err
		},
		cycle: func(dir string) (cycleDB, error) {
			db, err := openBunt(dir, buntdb.Never)
			return &buntDB{db: db}, err
		},
		load: func(dir string) (closer, error) {
			db, err := openBunt(dir, buntdb.Never)
			return &buntDB{db: db}, err
		},
		fill: func(dir string, n int) error {
			db, err := openBunt(dir, buntdb.Never)
			if err != nil {
				return err
			}
			for done := 0; done < n; done += 1000 {
				if err := db.Update(func(tx *buntdb.Tx) error {
					for i := done; i < min(done+1000, n); i++ {
						if _, _, err := tx.Set(key(int64(i)), string(value), nil); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					return err
				}
			}
			return db.Close()
		},
	},
	{
		name:       "bbolt",
		durability: "DB.Update with one producer, DB.Batch (MaxBatchSize 16) with more: returns after the commit, which fdatasyncs the data pages, then the meta page",
		fsyncNote:  "estimated: two fdatasyncs per commit, commits counted by tx id",
		durable: func(dir string, producers int) (durableDB, error) {
			db, err := openBolt(dir, false)
			return &boltDB{db: db, txs: map[int]bool{}, batch: producers > 1}, err
		},
		cycle: func(dir string) (cycleDB, error) {
			db, err := openBolt(dir, true)
			return &boltDB{db: db}, err
		},
		load: func(dir string) (closer, error) {
			db, err := openBolt(dir, false)
			return &boltDB{db: db}, err
		},
		fill: func(dir string, n int) error {
			db, err := openBolt(dir, true)
			if err != nil {
				return err
			}
			for done := 0; done < n; done += 1000 {
				if err := db.Update(func(tx *bolt.Tx) error {
					b := tx.Bucket(boltBucket)
					for i := done; i < min(done+1000, n); i++ {
						if err := b.Put([]byte(key(int64(i))), value); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					return err
				}
			}
			return db.Close()
		},
	},
	{
		name:       "sqlite",
		durability: "modernc.org/sqlite, WAL, synchronous=FULL: the WAL is fsynced at every commit; one connection",
		fsyncNote:  "estimated: one WAL fsync per commit (checkpoints add more)",
		durable: func(dir string, producers int) (durableDB, error) {
			db, err := openSQLite(dir, "FULL")
			return &sqliteDB{db: db}, err
		},
		cycle: func(dir string) (cycleDB, error) {
			db, err := openSQLite(dir, "OFF")
			return &sqliteDB{db: db}, err
		},
		load: func(dir string) (closer, error) {
			db, err := openSQLite(dir, "FULL")
			if err == nil {
				// Open is lazy: read the table so open loads something.
				var n int
				err = db.QueryRow(`SELECT count(*) FROM q`).Scan(&n)
			}
			return &sqliteDB{db: db}, err
		},
		fill: func(dir string, n int) error {
			db, err := openSQLite(dir, "OFF")
			if err != nil {
				return err
			}
			for done := 0; done < n; done += 1000 {
				tx, err := db.Begin()
				if err != nil {
					return err
				}
				for i := done; i < min(done+1000, n); i++ {
					if _, err := tx.Exec(`INSERT INTO q(k, v) VALUES (?, ?)`, key(int64(i)), value); err != nil {
						tx.Rollback()
						return err
					}
				}
				if err := tx.Commit(); err != nil {
					return err
				}
			}
			return db.Close()
		},
	},
	{
		name:       "pebble",
		durability: "pebble.Sync writes: returns after the WAL fdatasync; the commit pipeline groups concurrent writes",
		fsyncNote:  "counted (a vfs wrapper counts Sync, SyncData, and SyncTo that synced)",
		durable: func(dir string, producers int) (durableDB, error) {
			fs := &countFS{FS: vfs.Default}
			db, err := pebble.Open(dir, &pebble.Options{FS: fs})
			return &pebbleDB{db: db, fs: fs, opt: pebble.Sync}, err
		},
		cycle: func(dir string) (cycleDB, error) {
			db, err := pebble.Open(dir, &pebble.Options{})
			return &pebbleDB{db: db, opt: pebble.NoSync}, err
		},
		load: func(dir string) (closer, error) {
			db, err := pebble.Open(dir, &pebble.Options{})
			return &pebbleDB{db: db}, err
		},
		fill: func(dir string, n int) error {
			db, err := pebble.Open(dir, &pebble.Options{})
			if err != nil {
				return err
			}
			for done := 0; done < n; done += 1000 {
				b := db.NewBatch()
				for i := done; i < min(done+1000, n); i++ {
					if err := b.Set([]byte(key(int64(i))), value, nil); err != nil {
						return err
					}
				}
				if err := b.Commit(pebble.NoSync); err != nil {
					return err
				}
			}
			return db.Close()
		},
	},
	{
		name:       "dque",
		durability: "turbo off: every Enqueue appends to the segment file and fsyncs it, under the queue's mutex",
		fsyncNote:  "estimated: one per Enqueue and one per Dequeue (segment.go, turbo off)",
		durable: func(dir string, producers int) (durableDB, error) {
			q, err := openDque(dir, false)
			return &dqueDB{q: q}, err
		},
		cycle: func(dir string) (cycleDB, error) {
			q, err := openDque(dir, true)
			return &dqueDB{q: q}, err
		},
		load: func(dir string) (closer, error) {
			q, err := openDque(dir, false)
			return &dqueDB{q: q}, err
		},
		fill: func(dir string, n int) error {
			q, err := openDque(dir, true)
			if err != nil {
				return err
			}
			for i := range n {
				if err := q.Enqueue(&item{K: key(int64(i)), V: value}); err != nil {
					return err
				}
			}
			return q.Close()
		},
	},
	{
		name:       "append+fsync",
		durability: "floor: append a framed record (length, crc32) to one file; group commit, one fsync for every record written before it started",
		fsyncNote:  "counted",
		durable: func(dir string, producers int) (durableDB, error) {
			return openGroupFile(filepath.Join(dir, "log"), false)
		},
	},
	{
		name:       "prealloc+fdatasync",
		durability: "floor: overwrite a zero-filled, already synced 64 MiB file (wrapping), then fdatasync: no size or extent change to sync",
		fsyncNote:  "counted",
		durable: func(dir string, producers int) (durableDB, error) {
			return openGroupFile(filepath.Join(dir, "log"), true)
		},
	},
}

func openBoxstorm(dir string, mode store.SyncMode) (*store.Store, error) {
	return store.Open(context.Background(), dir, store.Options{Key: masterKey, Sync: mode, Logger: slog.New(slog.DiscardHandler)})
}

type boxDurable struct{ s *store.Store }

func (b *boxDurable) put(int64) error {
	_, err := b.s.Enqueue(context.Background(), value, store.EnqueueOptions{})
	return err
}

func (b *boxDurable) fsyncs() int64 {
	st, err := b.s.Stats(context.Background())
	if err != nil {
		return -1
	}
	return int64(st.Fsyncs)
}

func (b *boxDurable) close() error {
	if b.s == nil {
		return nil
	}
	return b.s.Close()
}

type boxCycle struct {
	s     *store.Store
	token uint64
}

func (b *boxCycle) cycle(int64) error {
	ctx := context.Background()
	if _, err := b.s.Enqueue(ctx, value, store.EnqueueOptions{}); err != nil {
		return err
	}
	op, err := b.s.Claim(ctx, b.token)
	if err != nil {
		return err
	}
	return b.s.Ack(ctx, b.token, op.ID)
}

func (b *boxCycle) close() error {
	if b.s == nil {
		return nil
	}
	return b.s.Close()
}

func openBunt(dir string, policy buntdb.SyncPolicy) (*buntdb.DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	db, err := buntdb.Open(filepath.Join(dir, "bunt.db"))
	if err != nil {
		return nil, err
	}
	var cfg buntdb.Config
	if err := db.ReadConfig(&cfg); err != nil {
		return nil, err
	}
	cfg.SyncPolicy = policy
	cfg.AutoShrinkDisabled = true
	return db, db.SetConfig(cfg)
}

type buntDB struct {
	db      *buntdb.DB
	updates atomic.Int64
}

func (b *buntDB) put(i int64) error {
	b.updates.Add(1)
	return b.db.Update(func(tx *buntdb.Tx) error {
		_, _, err := tx.Set(key(i), string(value), nil)
		return err
	})
}

func (b *buntDB) fsyncs() int64 { return b.updates.Load() }

func (b *buntDB) cycle(i int64) error {
	if err := b.put(i); err != nil {
		return err
	}
	if err := b.db.View(func(tx *buntdb.Tx) error {
		_, err := tx.Get(key(i))
		return err
	}); err != nil {
		return err
	}
	return b.db.Update(func(tx *buntdb.Tx) error {
		_, err := tx.Delete(key(i))
		return err
	})
}

func (b *buntDB) close() error {
	if b.db == nil {
		return nil
	}
	return b.db.Close()
}

var boltBucket = []byte("q")

func openBolt(dir string, noSync bool) (*bolt.DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	db, err := bolt.Open(filepath.Join(dir, "bolt.db"), 0o600, &bolt.Options{NoSync: noSync})
	if err != nil {
		return nil, err
	}
	db.MaxBatchSize = 16
	return db, db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(boltBucket)
		return err
	})
}

type boltDB struct {
	db    *bolt.DB
	batch bool
	mu    sync.Mutex
	txs   map[int]bool
}

func (b *boltDB) put(i int64) error {
	commit := b.db.Update
	if b.batch {
		commit = b.db.Batch
	}
	return commit(func(tx *bolt.Tx) error {
		if b.txs != nil {
			b.mu.Lock()
			b.txs[tx.ID()] = true
			b.mu.Unlock()
		}
		return tx.Bucket(boltBucket).Put([]byte(key(i)), value)
	})
}

func (b *boltDB) fsyncs() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return 2 * int64(len(b.txs))
}

func (b *boltDB) cycle(i int64) error {
	k := []byte(key(i))
	if err := b.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(boltBucket).Put(k, value) }); err != nil {
		return err
	}
	if err := b.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(boltBucket).Get(k) == nil {
			return errors.New("bbolt: record missing")
		}
		return nil
	}); err != nil {
		return err
	}
	return b.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(boltBucket).Delete(k) })
}

func (b *boltDB) close() error {
	if b.db == nil {
		return nil
	}
	return b.db.Close()
}

func openSQLite(dir, synchronous string) (*sql.DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	dsn := "file:" + filepath.Join(dir, "q.sqlite") + "?_pragma=journal_mode(WAL)&_pragma=synchronous(" + synchronous + ")&_pragma=busy_timeout(10000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	_, err = db.Exec(`CREATE TABLE IF NOT EXISTS q (k TEXT PRIMARY KEY, v BLOB NOT NULL)`)
	return db, err
}

type sqliteDB struct {
	db      *sql.DB
	commits atomic.Int64
}

func (s *sqliteDB) put(i int64) error {
	s.commits.Add(1)
	_, err := s.db.Exec(`INSERT INTO q(k, v) VALUES (?, ?)`, key(i), value)
	return err
}

func (s *sqliteDB) fsyncs() int64 { return s.commits.Load() }

func (s *sqliteDB) cycle(i int64) error {
	if err := s.put(i); err != nil {
		return err
	}
	var v []byte
	if err := s.db.QueryRow(`SELECT v FROM q WHERE k = ?`, key(i)).Scan(&v); err != nil {
		return err
	}
	_, err := s.db.Exec(`DELETE FROM q WHERE k = ?`, key(i))
	return err
}

func (s *sqliteDB) close() error {
	if s.db == nil {
		return nil
	}
	return s.db.Close()
}

type pebbleDB struct {
	db  *pebble.DB
	fs  *countFS
	opt *pebble.WriteOptions
}

func (p *pebbleDB) put(i int64) error { return p.db.Set([]byte(key(i)), value, p.opt) }

func (p *pebbleDB) fsyncs() int64 { return p.fs.syncs.Load() }

func (p *pebbleDB) cycle(i int64) error {
	k := []byte(key(i))
	if err := p.db.Set(k, value, p.opt); err != nil {
		return err
	}
	_, c, err := p.db.Get(k)
	if err != nil {
		return err
	}
	c.Close()
	return p.db.Delete(k, p.opt)
}

func (p *pebbleDB) close() error {
	if p.db == nil {
		return nil
	}
	return p.db.Close()
}

// countFS counts the syncs of every file pebble writes.
type countFS struct {
	vfs.FS
	syncs atomic.Int64
}

func (fs *countFS) Create(name string) (vfs.File, error) {
	f, err := fs.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return &countFile{File: f, n: &fs.syncs}, nil
}

func (fs *countFS) ReuseForWrite(oldname, newname string) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname)
	if err != nil {
		return nil, err
	}
	return &countFile{File: f, n: &fs.syncs}, nil
}

type countFile struct {
	vfs.File
	n *atomic.Int64
}

func (f *countFile) Sync() error     { f.n.Add(1); return f.File.Sync() }
func (f *countFile) SyncData() error { f.n.Add(1); return f.File.SyncData() }
func (f *countFile) SyncTo(length int64) (bool, error) {
	full, err := f.File.SyncTo(length)
	if full {
		f.n.Add(1)
	}
	return full, err
}

// item is dque's record.
type item struct {
	K string
	V []byte
}

func openDque(dir string, turbo bool) (*dque.DQue, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	q, err := dque.NewOrOpen("q", dir, 10000, func() any { return &item{} })
	if err != nil {
		return nil, err
	}
	if turbo {
		err = q.TurboOn()
	}
	return q, err
}

type dqueDB struct {
	q    *dque.DQue
	puts atomic.Int64
}

func (d *dqueDB) put(i int64) error {
	d.puts.Add(1)
	return d.q.Enqueue(&item{K: key(i), V: value})
}

func (d *dqueDB) fsyncs() int64 { return d.puts.Load() }

func (d *dqueDB) cycle(i int64) error {
	if err := d.q.Enqueue(&item{K: key(i), V: value}); err != nil {
		return err
	}
	_, err := d.q.Dequeue()
	return err
}

func (d *dqueDB) close() error {
	if d.q == nil {
		return nil
	}
	return d.q.Close()
}

// groupFile is the floor: framed records appended to (or written over) one
// file, with a sync goroutine that, like pebble's commit pipeline, fsyncs
// everything written before it starts while later writes gather.
type groupFile struct {
	f        *os.File
	prealloc bool
	size     int64

	mu      sync.Mutex
	cond    *sync.Cond
	off     int64
	written uint64
	synced  uint64
	err     error
	kick    chan struct{}
	done    chan struct{}
	syncs   atomic.Int64
	buf     []byte
}

const preallocSize = 64 << 20

func openGroupFile(path string, prealloc bool) (*groupFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	g := &groupFile{f: f, prealloc: prealloc, kick: make(chan struct{}, 1), done: make(chan struct{})}
	g.cond = sync.NewCond(&g.mu)
	if prealloc {
		// Write real zeros (fallocate would leave unwritten extents, whose
		// conversion fdatasync must journal) and sync them once.
		zero := make([]byte, 1<<20)
		for off := int64(0); off < preallocSize; off += int64(len(zero)) {
			if _, err := f.WriteAt(zero, off); err != nil {
				f.Close()
				return nil, err
			}
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, err
		}
		g.size = preallocSize
	}
	go g.syncLoop()
	return g, nil
}

func (g *groupFile) put(i int64) error {
	g.mu.Lock()
	if g.err != nil {
		g.mu.Unlock()
		return g.err
	}
	n := 4 + 4 + 16 + len(value)
	g.buf = binary.BigEndian.AppendUint32(g.buf[:0], uint32(n-8))
	g.buf = binary.BigEndian.AppendUint32(g.buf, 0)
	g.buf = append(g.buf, key(i)...)
	g.buf = append(g.buf, value...)
	binary.BigEndian.PutUint32(g.buf[4:8], crc32.ChecksumIEEE(g.buf[8:]))
	var err error
	if g.prealloc {
		if g.off+int64(n) > g.size {
			g.off = 0 // wrap: the floor measures the disk, not a log format
		}
		_, err = g.f.WriteAt(g.buf, g.off)
	} else {
		_, err = g.f.Write(g.buf)
	}
	g.off += int64(n)
	if err != nil {
		g.err = err
		g.mu.Unlock()
		return err
	}
	g.written++
	ticket := g.written
	select {
	case g.kick <- struct{}{}:
	default:
	}
	for g.synced < ticket && g.err == nil {
		g.cond.Wait()
	}
	err = g.err
	g.mu.Unlock()
	return err
}

func (g *groupFile) syncLoop() {
	defer close(g.done)
	for range g.kick {
		g.mu.Lock()
		upto, synced := g.written, g.synced
		g.mu.Unlock()
		if upto == synced {
			continue
		}
		g.syncs.Add(1)
		var err error
		if g.prealloc {
			err = unix.Fdatasync(int(g.f.Fd()))
		} else {
			err = g.f.Sync()
		}
		g.mu.Lock()
		if err != nil && g.err == nil {
			g.err = err // sticky, as it must be
		}
		g.synced = max(g.synced, upto)
		g.cond.Broadcast()
		if g.written > g.synced {
			select {
			case g.kick <- struct{}{}:
			default:
			}
		}
		g.mu.Unlock()
	}
}

func (g *groupFile) fsyncs() int64 { return g.syncs.Load() }

func (g *groupFile) close() error {
	close(g.kick)
	<-g.done
	return g.f.Close()
}
