// Package faultfs is a fault file system: a FUSE loopback mount that keeps
// track of what an fsync has made durable, so a test can cut the power and
// see what a real machine would keep. It follows LazyFS (Jepsen, VLDB 2024,
// "When Amnesia Strikes"), and explores crash states after ALICE (OSDI 2014)
// and CrashMonkey (OSDI 2018). docs/faults.md is the long form of this page.
//
// # Basics
//
// A SIGKILL cannot lose a write the program forgot to fsync: the kernel's
// page cache still reaches the disk. A power loss can. The file system
// passes every operation through to a backing directory, so the mount
// behaves like that directory, and records each mutating operation in the
// order it took effect. Its model of the disk holds the durable state; a
// power loss replaces the backing directory with it and remounts.
//
//	m, err := faultfs.Start(ctx, []string{exe, "__faultfs"}, backing, mnt, faultfs.Options{})
//	if err != nil { ... }           // wraps ErrNoFUSE without /dev/fuse or root
//	defer m.Close()                 // unmounts on every path
//	// run the store in mnt; SIGKILL it; then:
//	err = m.PowerLoss(ctx, faultfs.LoseUnsynced, 0)
//	// reopen the store in mnt: it sees what the disk held
//
// The server runs in its own process, because a Go process that serves a
// FUSE mount and also does I/O on it can deadlock (golang/go#21014). A
// program exposes [ServeMain] as a hidden subcommand and passes that argv to
// [Start]; tests re-execute the test binary from TestMain the same way.
// Control requests are JSON lines on a Unix socket, one response per line.
//
// # Persistence model
//
// What an fsync makes durable, and so what a power loss keeps:
//   - A file's data (writes, truncates, chmod) is durable once an fsync or
//     fdatasync of that file, by inode, returns after it. The fsync counts
//     from when it starts: a write that lands while it runs is not covered.
//   - A name (create, mkdir, rename, unlink, rmdir) is durable once an fsync
//     of its parent directory covers it. A rename is one atomic change: an
//     fsync of either of its directories makes it durable, together with the
//     name operations before it in both directories.
//   - Nothing else is. A file that was created, written and fsynced, but
//     whose directory was never fsynced, is gone after a power loss: its data
//     is durable but no durable name reaches it. This is the strict POSIX
//     reading. ext4 in ordered mode usually keeps such a name, because the
//     file's fsync commits the journal transaction that holds it; that
//     leniency is not modelled, so a store that relies on it fails here.
//
// # Faults
//
//   - [Mount.PowerLoss] with [LoseUnsynced] keeps exactly the durable state;
//     with [Torn] it also keeps, chosen by the seed, a prefix of the unsynced
//     name operations (a journal commits metadata in order) and a subset of
//     the unsynced writes cut into 512-byte sectors, in any order. Kill the
//     processes using the mount first: the old mount is unmounted, or
//     detached if still busy after a second, and any descriptor that
//     outlived it fails with EIO and changes nothing.
//   - [Mount.FsyncError] fails the n-th fsync (of a file or a directory)
//     with EIO, or every one from it on. As on Linux after a writeback
//     error, the file's unsynced writes are dropped from the durable future
//     (the pages are marked clean): reads still show them, no later fsync
//     saves them, and a power loss loses them. A failed directory fsync
//     makes nothing durable and drops nothing.
//   - [Mount.ENOSPC] fails a write whole with ENOSPC when it would pass a
//     byte budget, and creates and mkdirs once the budget is spent.
//   - [Mount.SlowIO] delays writes and fsyncs by draws from a seeded
//     log-normal distribution given by its median and 99th percentile.
//   - [Mount.Reset] disarms them; [Mount.Stats] counts operations, fsyncs,
//     bytes and what is still unsynced.
//
// # Crash-state exploration
//
// [Mount.Mark] starts a recording; [Mount.Recording] returns the durable
// state at the mark and the operations since. [Explore] is a pure function
// of a [Recording]: at every crash point (before each fsync, after each
// rename, and at the end) it builds the states a power loss there could
// leave, up to ExploreOptions.MaxStatesPerBoundary distinct new states per
// point, seeded, and materialises each into a fresh directory for a checker
// to open. The [Exploration] records the bound, the seed, and per point the
// size of the state space and whether it was covered exhaustively.
//
// # Caveats
//
//   - Not modelled: the device's write cache and reordering below the file
//     system (a disk that acknowledges a flush it did not do), mmap writes
//     (they bypass the server until msync), O_DIRECT, hard links, symlinks,
//     device nodes, fallocate, copy_file_range, xattrs and timestamps.
//     Hard links, symlinks, devices, fallocate and O_TMPFILE are refused.
//   - The server holds the durable file data in memory, and a recording
//     holds a copy of it plus every byte written since the mark.
//   - Every mutating operation takes one lock, so the order recorded is the
//     order the backing directory saw; concurrent writers are serialised.
//   - Mounting needs /dev/fuse and root ([Available]). Tests that need a
//     mount skip, and scenarios must report unknown, where it is missing.
//   - A server killed with SIGKILL leaves a stale mount (ENOTCONN).
//     [Start] and [Unmount] clean it like umount -l; Start sets Pdeathsig
//     so the server unmounts if its parent dies.
package faultfs
