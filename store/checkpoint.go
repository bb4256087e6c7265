package store

// The checkpoint: what the store knows to be durable in each box file, kept
// outside the box files. A cut in the middle of a box file looks, to a scan
// of that file alone, like a torn write of its last transaction; whole
// acknowledged transactions after the cut would vanish as "one dropped
// transaction". checkpoint.json records, per box, the sequence number and
// the file length of the last transaction known to be fsynced. A box file
// that no longer reaches that length or that transaction lost acknowledged
// data: that is corruption, not a torn tail.
//
// The checkpoint is written after the boxes' fsyncs: at Close, and while the
// store is written at most Options.CheckpointPeriod (a second by default)
// after a transaction became durable, atomically (temp file, fsync, rename,
// fsync of the directory). Whatever replaces or shortens a box file
// (a swap, a repair that cuts into verified data, the corrupted-box
// procedure) first removes that box's entry, durably, so a crash in between
// never leaves an entry for a file it does not describe.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"sync"

	"github.com/boxstorm/boxstorm/internal/fileio"
)

const (
	checkpointName    = "checkpoint.json"
	checkpointVersion = 1
)

// checkpointEntry is the last durable transaction of a box file.
type checkpointEntry struct {
	Seq    uint64 `json:"seq"`    // its sequence number
	Length int64  `json:"length"` // the file's length at its end
}

// checkpointFile is checkpoint.json (docs/store-format.md).
type checkpointFile struct {
	Version int                        `json:"version"`
	Boxes   map[string]checkpointEntry `json:"boxes"`
}

// checkpoint is the store's copy of checkpoint.json.
type checkpoint struct {
	mu    sync.Mutex
	path  string
	boxes map[string]checkpointEntry
}

// loadCheckpoint reads dir's checkpoint. A store without one (new, or made
// before checkpoints existed) gets an empty one: nothing is covered yet.
func loadCheckpoint(dir string) (*checkpoint, error) {
	c := &checkpoint{path: filepath.Join(dir, checkpointName), boxes: map[string]checkpointEntry{}}
	b, err := os.ReadFile(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	var f checkpointFile
	if err := json.Unmarshal(b, &f); err != nil || f.Version != checkpointVersion {
		return nil, fmt.Errorf("checkpoint %s is unreadable or of an unknown version: %w; hint: it is replaced atomically, so this is damage; removing it opens the store without truncation detection until the next checkpoint", c.path, ErrCorrupt)
	}
	if f.Boxes != nil {
		c.boxes = f.Boxes
	}
	return c, nil
}

// entry returns the checkpoint of box name, nil if there is none.
func (c *checkpoint) entry(name string) *checkpointEntry {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.boxes[name]
	if !ok {
		return nil
	}
	return &e
}

func (c *checkpoint) writeLocked() error {
	b, err := json.Marshal(checkpointFile{Version: checkpointVersion, Boxes: c.boxes})
	if err != nil {
		return err
	}
	if err := fileio.WriteFileAtomic(c.path, b, 0o600); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// update records what each box's syncer knows to be durable and writes the
// file when anything moved on. The store calls it every
// Options.CheckpointPeriod and at Close.
func (c *checkpoint) update(boxes []*box) error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	next := maps.Clone(c.boxes)
	changed := false
	for _, b := range boxes {
		if b.lazy {
			// pending_index is derived data, rebuilt from pending_ops at
			// Open; the runbook may even delete it. A short one loses nothing.
			continue
		}
		m := b.sync.durableMark()
		if m.Seq == 0 || next[b.name] == m {
			continue // nothing synced since the box was opened, or no news
		}
		next[b.name], changed = m, true
	}
	if !changed {
		return nil
	}
	old := c.boxes
	c.boxes = next
	if err := c.writeLocked(); err != nil {
		c.boxes = old
		return err
	}
	return nil
}

// forget removes the entries of boxes whose files are about to be replaced
// or shortened, and makes that durable before the caller touches a file.
func (c *checkpoint) forget(names ...string) error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	changed := false
	for _, n := range names {
		if _, ok := c.boxes[n]; ok {
			delete(c.boxes, n)
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return c.writeLocked()
}

// check compares a scan of a box file with its checkpoint entry. A file
// whose whole transactions stop short of the checkpoint lost durable data;
// a file whose checkpointed transaction ends elsewhere is not the file the
// checkpoint describes.
func (e *checkpointEntry) check(box string, res scanResult) *CorruptionError {
	if e == nil || res.damage != nil {
		return nil
	}
	if res.lastSeq < e.Seq || int64(res.goodEnd) < e.Length {
		return &CorruptionError{Box: box, Offset: int64(res.goodEnd), Reason: fmt.Sprintf(
			"the file's whole transactions end at transaction %d (%d bytes), but the checkpoint recorded transaction %d durable at %d bytes: acknowledged transactions were cut off (a truncation, not a torn write)",
			res.lastSeq, res.goodEnd, e.Seq, e.Length)}
	}
	if int64(res.markEnd) != e.Length {
		return &CorruptionError{Box: box, Offset: int64(res.markEnd), Reason: fmt.Sprintf(
			"transaction %d ends at offset %d, but the checkpoint recorded it ending at %d: the file is not the one the checkpoint describes (replaced outside the store?)",
			e.Seq, res.markEnd, e.Length)}
	}
	return nil
}

// scanChecked scans a box file and holds it to its checkpoint entry.
func scanChecked(box string, d []byte, keys *sealer, e *checkpointEntry) scanResult {
	var mark uint64
	if e != nil {
		mark = e.Seq
	}
	res := scanBoxMark(box, d, keys, mark)
	if dmg := e.check(box, res); dmg != nil {
		res.damage = dmg
	}
	return res
}

// forgetCheckpoint removes boxes' entries from dir's checkpoint, for the
// procedures that move box files while no Store is open.
func forgetCheckpoint(dir string, names ...string) error {
	c, err := loadCheckpoint(dir)
	if err != nil {
		return err
	}
	return c.forget(names...)
}
