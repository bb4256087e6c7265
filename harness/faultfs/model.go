package faultfs

// The in-memory model of a file system: a tree of inodes, the operations
// that change it, and the rules that say which operations a power loss keeps.
// The server keeps its durable state as a Tree; Explore rebuilds crash states
// from a Tree and a Recording with the same code, so both agree by
// construction.

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// OpKind names a recorded operation.
type OpKind string

// The recorded operations. Name operations change directory entries and are
// made durable by an fsync of their directory; data operations change one
// inode and are made durable by an fsync of that inode.
const (
	OpCreate   OpKind = "create"   // name: new regular file Ino as Dir/Name
	OpMkdir    OpKind = "mkdir"    // name: new directory Ino as Dir/Name
	OpRename   OpKind = "rename"   // name: Dir/Name (inode Ino) becomes NewDir/NewName
	OpUnlink   OpKind = "unlink"   // name: remove Dir/Name (inode Ino)
	OpRmdir    OpKind = "rmdir"    // name: remove directory Dir/Name (inode Ino)
	OpWrite    OpKind = "write"    // data: Data at Off in Ino
	OpTruncate OpKind = "truncate" // data: Ino's size becomes Size
	OpChmod    OpKind = "chmod"    // data: Ino's permission bits become Mode
	OpFsync    OpKind = "fsync"    // sync: fsync or fdatasync of file Ino
	OpFsyncDir OpKind = "fsyncdir" // sync: fsync of directory Ino
)

// Op is one recorded mutating operation. Inodes are named by ids that the
// recorder assigns (a fresh id for every create and mkdir), never by the
// backing file system's inode numbers, which are reused.
type Op struct {
	Kind OpKind `json:"kind"`
	// Ino is the inode acted on: the new inode of a create or mkdir, the
	// inode a name pointed to for unlink, rmdir and rename, the file of a
	// data operation, the file or directory of an fsync.
	Ino     uint64 `json:"ino"`
	Dir     uint64 `json:"dir,omitempty"`
	Name    string `json:"name,omitempty"`
	NewDir  uint64 `json:"new_dir,omitempty"`
	NewName string `json:"new_name,omitempty"`
	Off     int64  `json:"off,omitempty"`
	Data    []byte `json:"data,omitempty"`
	Size    int64  `json:"size,omitempty"`
	Mode    uint32 `json:"mode,omitempty"`
	// Failed marks an fsync that returned an error: it made nothing
	// durable, and for a file its unsynced writes were dropped.
	Failed bool `json:"failed,omitempty"`
	// Datasync marks an fdatasync; it is modelled as an fsync.
	Datasync bool `json:"datasync,omitempty"`
	// Path is the operation's path relative to the mount, for people.
	Path string `json:"path,omitempty"`
	// Time is when the operation took effect, in Unix nanoseconds, so a
	// crash point can be placed in a history.
	Time int64 `json:"time_ns,omitempty"`
}

func (o *Op) isName() bool {
	switch o.Kind {
	case OpCreate, OpMkdir, OpRename, OpUnlink, OpRmdir:
		return true
	}
	return false
}

func (o *Op) isData() bool {
	return o.Kind == OpWrite || o.Kind == OpTruncate || o.Kind == OpChmod
}

func (o *Op) isSync() bool { return o.Kind == OpFsync || o.Kind == OpFsyncDir }

// touches reports whether a name operation changes an entry of directory d.
func (o *Op) touches(d uint64) bool {
	return o.isName() && (o.Dir == d || (o.Kind == OpRename && o.NewDir == d))
}

// Tree is a file system state: inodes by id, and the root directory's id.
// It holds every inode with durable content, including ones no durable name
// reaches (their data survives, unreachable, as on a real disk).
type Tree struct {
	Root   uint64            `json:"root"`
	Inodes map[uint64]*Inode `json:"inodes"`
}

// Inode is a regular file or a directory.
type Inode struct {
	Dir     bool              `json:"dir,omitempty"`
	Mode    uint32            `json:"mode"`
	Data    []byte            `json:"data,omitempty"`
	Entries map[string]uint64 `json:"entries,omitempty"`
	shared  bool              // Data is shared with another Tree: copy before writing
}

// NewTree returns a tree holding only an empty root directory with id 1.
func NewTree() *Tree {
	return &Tree{Root: 1, Inodes: map[uint64]*Inode{1: {Dir: true, Mode: 0o755, Entries: map[string]uint64{}}}}
}

// ReadTree reads the directory dir into a Tree, numbering inodes from 1 (the
// root) in path order. Only regular files and directories are allowed.
func ReadTree(dir string) (*Tree, error) {
	t := NewTree()
	next := uint64(2)
	err := readDir(dir, func(rel string, d fs.DirEntry, info fs.FileInfo, data []byte) (uint64, error) {
		parent, ok := t.Lookup(filepath.Dir(rel))
		if !ok {
			return 0, fmt.Errorf("faultfs: %s: parent not read", rel)
		}
		id := next
		next++
		in := &Inode{Dir: d.IsDir(), Mode: uint32(info.Mode().Perm()), Data: data}
		if in.Dir {
			in.Entries = map[string]uint64{}
		}
		t.Inodes[id] = in
		t.Inodes[parent].Entries[filepath.Base(rel)] = id
		return id, nil
	})
	if err != nil {
		return nil, err
	}
	if info, err := os.Stat(dir); err == nil {
		t.Inodes[t.Root].Mode = uint32(info.Mode().Perm())
	}
	return t, nil
}

// readDir walks dir in lexical order and calls fn for every file and
// directory below it, with its data for files.
func readDir(dir string, fn func(rel string, d fs.DirEntry, info fs.FileInfo, data []byte) (uint64, error)) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("faultfs: read %s: %w", p, err)
		}
		if p == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("faultfs: stat %s: %w", p, err)
		}
		var data []byte
		switch {
		case d.IsDir():
		case info.Mode().IsRegular():
			if data, err = os.ReadFile(p); err != nil {
				return fmt.Errorf("faultfs: read %s: %w", p, err)
			}
		default:
			return fmt.Errorf("faultfs: %s: %w", p, ErrUnsupported)
		}
		_, err = fn(rel, d, info, data)
		return err
	})
}

// Lookup returns the id of the inode at the slash-separated path rel
// ("." or "" is the root).
func (t *Tree) Lookup(rel string) (uint64, bool) {
	id := t.Root
	for _, part := range splitPath(rel) {
		in := t.Inodes[id]
		if in == nil || !in.Dir {
			return 0, false
		}
		child, ok := in.Entries[part]
		if !ok {
			return 0, false
		}
		id = child
	}
	return id, t.Inodes[id] != nil
}

func splitPath(rel string) []string {
	var parts []string
	for _, p := range strings.Split(filepath.ToSlash(filepath.Clean(rel)), "/") {
		if p != "" && p != "." {
			parts = append(parts, p)
		}
	}
	return parts
}

// Clone returns a copy of t that shares file data until either is written.
// It marks t's data as shared, so it must not run concurrently with any
// other use of t.
func (t *Tree) Clone() *Tree { return t.clone(true) }

// clone copies t; with share, file data is shared copy-on-write.
func (t *Tree) clone(share bool) *Tree {
	c := &Tree{Root: t.Root, Inodes: make(map[uint64]*Inode, len(t.Inodes))}
	for id, in := range t.Inodes {
		n := &Inode{Dir: in.Dir, Mode: in.Mode, Data: in.Data, shared: share}
		if share {
			in.shared = true
		} else {
			n.Data = append([]byte(nil), in.Data...)
		}
		if in.Entries != nil {
			n.Entries = make(map[string]uint64, len(in.Entries))
			for k, v := range in.Entries {
				n.Entries[k] = v
			}
		}
		c.Inodes[id] = n
	}
	return c
}

// inode returns inode id, creating it (empty) if it does not exist yet: a
// file's data may be durable before its name is.
func (t *Tree) inode(id uint64, dir bool) *Inode {
	in := t.Inodes[id]
	if in == nil {
		in = &Inode{Dir: dir, Mode: 0o644}
		if dir {
			in.Mode = 0o755
			in.Entries = map[string]uint64{}
		}
		t.Inodes[id] = in
	}
	if in.Dir && in.Entries == nil {
		// An empty directory comes back from JSON with no map.
		in.Entries = map[string]uint64{}
	}
	return in
}

func (in *Inode) own() {
	if in.shared {
		in.Data = append([]byte(nil), in.Data...)
		in.shared = false
	}
}

// apply applies a name or data operation. For a write, only bytes [lo, hi)
// of the file are written (a torn write); lo < 0 means the whole write.
func (t *Tree) apply(o *Op, lo, hi int64) {
	switch o.Kind {
	case OpCreate, OpMkdir:
		in := t.inode(o.Ino, o.Kind == OpMkdir)
		if o.Mode != 0 {
			in.Mode = o.Mode
		}
		t.inode(o.Dir, true).Entries[o.Name] = o.Ino
	case OpUnlink, OpRmdir:
		if d := t.Inodes[o.Dir]; d != nil && d.Entries[o.Name] == o.Ino {
			delete(d.Entries, o.Name)
		}
	case OpRename:
		if d := t.Inodes[o.Dir]; d != nil && d.Entries[o.Name] == o.Ino {
			delete(d.Entries, o.Name)
		}
		t.inode(o.NewDir, true).Entries[o.NewName] = o.Ino
	case OpWrite:
		if lo < 0 {
			lo, hi = o.Off, o.Off+int64(len(o.Data))
		}
		in := t.inode(o.Ino, false)
		in.own()
		if int64(len(in.Data)) < hi {
			in.Data = append(in.Data, make([]byte, hi-int64(len(in.Data)))...)
		}
		copy(in.Data[lo:hi], o.Data[lo-o.Off:hi-o.Off])
	case OpTruncate:
		in := t.inode(o.Ino, false)
		in.own()
		if o.Size <= int64(len(in.Data)) {
			in.Data = in.Data[:o.Size]
		} else {
			in.Data = append(in.Data, make([]byte, o.Size-int64(len(in.Data)))...)
		}
	case OpChmod:
		t.inode(o.Ino, false).Mode = o.Mode
	}
}

// walk calls fn for every inode reachable from the root, parents first, in
// lexical order, with its slash-separated path.
func (t *Tree) walk(fn func(rel string, id uint64, in *Inode) error) error {
	seen := map[uint64]bool{}
	var rec func(rel string, id uint64) error
	rec = func(rel string, id uint64) error {
		in := t.Inodes[id]
		if in == nil || (in.Dir && seen[id]) {
			return nil
		}
		seen[id] = true
		if rel != "" {
			if err := fn(rel, id, in); err != nil {
				return err
			}
		}
		if !in.Dir {
			return nil
		}
		names := make([]string, 0, len(in.Entries))
		for n := range in.Entries {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if err := rec(filepath.Join(rel, n), in.Entries[n]); err != nil {
				return err
			}
		}
		return nil
	}
	return rec("", t.Root)
}

// WriteTo materialises the tree's reachable files into dir, which is
// created if needed and must be empty. A file reachable by two names is
// written twice.
func (t *Tree) WriteTo(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("faultfs: materialise: %w", err)
	}
	return t.walk(func(rel string, _ uint64, in *Inode) error {
		p := filepath.Join(dir, rel)
		var err error
		if in.Dir {
			err = os.Mkdir(p, os.FileMode(in.Mode&0o7777)|0o700)
		} else {
			err = os.WriteFile(p, in.Data, os.FileMode(in.Mode&0o7777))
			if err == nil {
				err = os.Chmod(p, os.FileMode(in.Mode&0o7777))
			}
		}
		if err != nil {
			return fmt.Errorf("faultfs: materialise %s: %w", rel, err)
		}
		return nil
	})
}

// Hash is a digest of the reachable tree: names, kinds, modes and data.
func (t *Tree) Hash() string {
	h := sha256.New()
	var n [8]byte
	_ = t.walk(func(rel string, _ uint64, in *Inode) error {
		h.Write([]byte(rel))
		binary.LittleEndian.PutUint32(n[:4], in.Mode)
		if in.Dir {
			n[4] = 1
		} else {
			n[4] = 0
		}
		h.Write(n[:5])
		binary.LittleEndian.PutUint64(n[:], uint64(len(in.Data)))
		h.Write(n[:])
		h.Write(in.Data)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:16]
}
