package faultfs

// The FUSE nodes: a loopback file system whose mutating operations pass
// through the state's mutex, are recorded in the order they took effect on
// the backing directory, and meet the armed faults.

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

type node struct {
	fs.LoopbackNode
	s   *state
	g   *generation
	ino uint64        // backing inode number
	id  atomic.Uint64 // model id; atomic because FUSE requests hop goroutines
}

// The operations that change the disk are intercepted here; a few the model
// has no place for are refused, so nothing reaches the backing directory
// unrecorded. File handles are wrapped so that go-fuse never hands the
// kernel a passthrough descriptor, which would bypass this server.
var (
	_ fs.NodeCreater        = (*node)(nil)
	_ fs.NodeMkdirer        = (*node)(nil)
	_ fs.NodeUnlinker       = (*node)(nil)
	_ fs.NodeRmdirer        = (*node)(nil)
	_ fs.NodeRenamer        = (*node)(nil)
	_ fs.NodeOpener         = (*node)(nil)
	_ fs.NodeSetattrer      = (*node)(nil)
	_ fs.NodeWriter         = (*node)(nil)
	_ fs.NodeWritever       = (*node)(nil)
	_ fs.NodeFsyncer        = (*node)(nil)
	_ fs.NodeOpendirHandler = (*node)(nil)
	_ fs.NodeAllocater      = (*node)(nil)
	_ fs.NodeCopyFileRanger = (*node)(nil)
	_ fs.NodeTmpfiler       = (*node)(nil)
	_ fs.NodeLinker         = (*node)(nil)
	_ fs.NodeSymlinker      = (*node)(nil)
	_ fs.NodeMknoder        = (*node)(nil)
	_ fs.FileReader         = (*file)(nil)
	_ fs.FileReleaser       = (*file)(nil)
	_ fs.FileFlusher        = (*file)(nil)
	_ fs.FileGetattrer      = (*file)(nil)
	_ fs.FileLseeker        = (*file)(nil)
	_ fs.FileGetlker        = (*file)(nil)
	_ fs.FileSetlker        = (*file)(nil)
	_ fs.FileSetlkwer       = (*file)(nil)
	_ fs.FileFsyncdirer     = (*dirHandle)(nil)
	_ fs.FileReaddirenter   = (*dirHandle)(nil)
	_ fs.FileSeekdirer      = (*dirHandle)(nil)
	_ fs.FileReleasedirer   = (*dirHandle)(nil)
)

// generation is one mount of the file system. A power loss ends it: a
// descriptor that outlived the old mount then gets EIO for every read,
// write and fsync, and changes nothing.
type generation struct{ dead atomic.Bool }

// newRoot returns the root node of a file system over s.backing.
func newRoot(s *state, g *generation) (fs.InodeEmbedder, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(s.backing, &st); err != nil {
		return nil, err
	}
	r := &fs.LoopbackRoot{Path: s.backing, Dev: uint64(st.Dev)}
	r.NewNode = func(r *fs.LoopbackRoot, _ *fs.Inode, _ string, st *syscall.Stat_t) fs.InodeEmbedder {
		n := &node{LoopbackNode: fs.LoopbackNode{RootData: r}, s: s, g: g, ino: st.Ino}
		n.id.Store(s.idOf(st.Ino))
		return n
	}
	r.RootNode = r.NewNode(r, nil, "", &st)
	return r.RootNode, nil
}

func (n *node) rel() string { return n.Path(nil) }

func (n *node) child(name string) string { return filepath.Join(n.rel(), name) }

// childID returns the model id of the entry name, before it is changed.
func (n *node) childID(name string) uint64 {
	var st syscall.Stat_t
	if err := syscall.Lstat(filepath.Join(n.s.backing, n.rel(), name), &st); err != nil {
		return 0
	}
	return n.s.idOf(st.Ino)
}

// born gives a new child a fresh id: the backing file system may reuse an
// inode number the model still knows.
func (n *node) born(ch *fs.Inode) uint64 {
	c := ch.Operations().(*node)
	id := n.s.fresh(c.ino)
	c.id.Store(id)
	return id
}

func (n *node) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	s := n.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if n.g.dead.Load() {
		return nil, nil, 0, syscall.EIO
	}
	if s.full() {
		return nil, nil, 0, syscall.ENOSPC
	}
	ch, fh, fl, errno := n.LoopbackNode.Create(ctx, name, flags, mode, out)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	id := n.born(ch)
	s.record(Op{Kind: OpCreate, Ino: id, Dir: n.id.Load(), Name: name, Mode: out.Mode & 0o7777, Path: n.child(name)})
	return ch, &file{inner: fh, g: n.g}, fl | fuse.FOPEN_KEEP_CACHE, 0
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	s := n.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if n.g.dead.Load() {
		return nil, syscall.EIO
	}
	if s.full() {
		return nil, syscall.ENOSPC
	}
	ch, errno := n.LoopbackNode.Mkdir(ctx, name, mode, out)
	if errno != 0 {
		return nil, errno
	}
	id := n.born(ch)
	s.record(Op{Kind: OpMkdir, Ino: id, Dir: n.id.Load(), Name: name, Mode: out.Mode & 0o7777, Path: n.child(name)})
	return ch, 0
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	return n.remove(name, OpUnlink, func() syscall.Errno { return n.LoopbackNode.Unlink(ctx, name) })
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	return n.remove(name, OpRmdir, func() syscall.Errno { return n.LoopbackNode.Rmdir(ctx, name) })
}

func (n *node) remove(name string, kind OpKind, do func() syscall.Errno) syscall.Errno {
	s := n.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if n.g.dead.Load() {
		return syscall.EIO
	}
	id := n.childID(name)
	if errno := do(); errno != 0 {
		return errno
	}
	s.record(Op{Kind: kind, Ino: id, Dir: n.id.Load(), Name: name, Path: n.child(name)})
	return 0
}

func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if flags&^uint32(1) != 0 { // only RENAME_NOREPLACE; no exchange or whiteout
		return syscall.ENOTSUP
	}
	np := newParent.(*node)
	s := n.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if n.g.dead.Load() {
		return syscall.EIO
	}
	id := n.childID(name)
	if errno := n.LoopbackNode.Rename(ctx, name, newParent, newName, flags); errno != 0 {
		return errno
	}
	s.record(Op{Kind: OpRename, Ino: id, Dir: n.id.Load(), Name: name, NewDir: np.id.Load(), NewName: newName,
		Path: n.child(name) + " -> " + np.child(newName)})
	return 0
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_TRUNC == 0 {
		fh, fl, errno := n.LoopbackNode.Open(ctx, flags)
		if errno != 0 {
			return nil, 0, errno
		}
		return &file{inner: fh, g: n.g}, fl | fuse.FOPEN_KEEP_CACHE, 0
	}
	s := n.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if n.g.dead.Load() {
		return nil, 0, syscall.EIO
	}
	fh, fl, errno := n.LoopbackNode.Open(ctx, flags)
	if errno != 0 {
		return nil, 0, errno
	}
	s.record(Op{Kind: OpTruncate, Ino: n.id.Load(), Path: n.rel()})
	return &file{inner: fh, g: n.g}, fl | fuse.FOPEN_KEEP_CACHE, 0
}

func unwrap(f fs.FileHandle) fs.FileHandle {
	if w, ok := f.(*file); ok {
		return w.inner
	}
	return f
}

func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	s := n.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if n.g.dead.Load() {
		return syscall.EIO
	}
	if errno := n.LoopbackNode.Setattr(ctx, unwrap(f), in, out); errno != 0 {
		return errno
	}
	if n.IsDir() {
		return 0
	}
	if sz, ok := in.GetSize(); ok {
		s.record(Op{Kind: OpTruncate, Ino: n.id.Load(), Size: int64(sz), Path: n.rel()})
	}
	if m, ok := in.GetMode(); ok {
		s.record(Op{Kind: OpChmod, Ino: n.id.Load(), Mode: m & 0o7777, Path: n.rel()})
	}
	return 0
}

func (n *node) Write(ctx context.Context, f fs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	s := n.s
	s.delay()
	s.mu.Lock()
	defer s.mu.Unlock()
	if n.g.dead.Load() {
		return 0, syscall.EIO
	}
	if errno := s.reserve(int64(len(data))); errno != 0 {
		return 0, errno
	}
	w, ok := unwrap(f).(fs.FileWriter)
	if !ok {
		return 0, syscall.EBADF
	}
	written, errno := w.Write(ctx, data, off)
	if written > 0 {
		s.stats.Writes++
		s.stats.BytesWritten += int64(written)
		s.record(Op{Kind: OpWrite, Ino: n.id.Load(), Off: off, Data: append([]byte(nil), data[:written]...)})
	}
	return written, errno
}

func (n *node) Writev(ctx context.Context, f fs.FileHandle, data [][]byte, off int64) (uint32, syscall.Errno) {
	var all []byte
	for _, d := range data {
		all = append(all, d...)
	}
	return n.Write(ctx, f, all, off)
}

func (n *node) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno {
	kind := OpFsync
	if n.IsDir() {
		kind = OpFsyncDir
	}
	return n.sync(kind, flags, func() syscall.Errno {
		if fs, ok := unwrap(f).(fs.FileFsyncer); ok {
			return fs.Fsync(ctx, flags)
		}
		return 0
	})
}

// sync records an fsync when it starts: it covers only what was recorded
// before it, so a write racing with it is not made durable by it.
func (n *node) sync(kind OpKind, flags uint32, do func() syscall.Errno) syscall.Errno {
	s := n.s
	s.delay()
	s.mu.Lock()
	if n.g.dead.Load() {
		s.mu.Unlock()
		return syscall.EIO
	}
	o := Op{Kind: kind, Ino: n.id.Load(), Datasync: flags&1 != 0, Path: n.rel()}
	if s.fsyncFails() {
		o.Failed = true
		s.record(o)
		s.mu.Unlock()
		return syscall.EIO
	}
	s.record(o)
	s.mu.Unlock()
	return do()
}

func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	h, fl, errno := n.LoopbackNode.OpendirHandle(ctx, flags)
	if errno != 0 {
		return nil, 0, errno
	}
	return &dirHandle{inner: h, n: n}, fl, 0
}

func (n *node) Allocate(context.Context, fs.FileHandle, uint64, uint64, uint32) syscall.Errno {
	return syscall.EOPNOTSUPP
}

func (n *node) CopyFileRange(context.Context, fs.FileHandle, uint64, *fs.Inode, fs.FileHandle, uint64, uint64, uint64) (uint32, syscall.Errno) {
	return 0, syscall.ENOSYS
}

func (n *node) Tmpfile(context.Context, uint32, uint32, *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EOPNOTSUPP
}

func (n *node) Link(context.Context, fs.InodeEmbedder, string, *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

func (n *node) Symlink(context.Context, string, string, *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

func (n *node) Mknod(context.Context, string, uint32, uint32, *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

// file wraps a loopback file handle; writes and fsyncs go through the node.
type file struct {
	inner fs.FileHandle
	g     *generation
}

func (f *file) Read(ctx context.Context, buf []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if f.g.dead.Load() {
		return nil, syscall.EIO
	}
	return f.inner.(fs.FileReader).Read(ctx, buf, off)
}

func (f *file) Release(ctx context.Context) syscall.Errno {
	return f.inner.(fs.FileReleaser).Release(ctx)
}

func (f *file) Flush(ctx context.Context) syscall.Errno { return f.inner.(fs.FileFlusher).Flush(ctx) }

func (f *file) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	return f.inner.(fs.FileGetattrer).Getattr(ctx, out)
}

func (f *file) Lseek(ctx context.Context, off uint64, whence uint32) (uint64, syscall.Errno) {
	return f.inner.(fs.FileLseeker).Lseek(ctx, off, whence)
}

func (f *file) Getlk(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32, out *fuse.FileLock) syscall.Errno {
	return f.inner.(fs.FileGetlker).Getlk(ctx, owner, lk, flags, out)
}

func (f *file) Setlk(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32) syscall.Errno {
	return f.inner.(fs.FileSetlker).Setlk(ctx, owner, lk, flags)
}

func (f *file) Setlkw(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32) syscall.Errno {
	return f.inner.(fs.FileSetlkwer).Setlkw(ctx, owner, lk, flags)
}

// dirHandle wraps a loopback directory stream so its fsync is recorded.
type dirHandle struct {
	inner fs.FileHandle
	n     *node
}

func (d *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	return d.inner.(fs.FileReaddirenter).Readdirent(ctx)
}

func (d *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	return d.inner.(fs.FileSeekdirer).Seekdir(ctx, off)
}

func (d *dirHandle) Releasedir(ctx context.Context, flags uint32) {
	d.inner.(fs.FileReleasedirer).Releasedir(ctx, flags)
}

func (d *dirHandle) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	return d.n.sync(OpFsyncDir, flags, func() syscall.Errno {
		return d.inner.(fs.FileFsyncdirer).Fsyncdir(ctx, flags)
	})
}
