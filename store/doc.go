// Package store is boxstorm's reference encrypted store: the persistence
// runbook (boxes, a FIFO queue with an index, a processing lock, an audit
// log) carried out on buntdb, with the protections buntdb lacks.
//
// # Basics
//
// A store is a directory, mode 0700 (Open tightens a directory that group or
// others may enter, and logs it). It holds keyring.json (the key-check value
// and the wrapped data keys), a LOCK file, checkpoint.json (see Integrity),
// and one buntdb file per box, <box>.db, created 0600:
// persistence_metadata, pending_ops, pending_index, failed_ops, audit_logs,
// and any data boxes added by name through [Store.Put].
//
//	s, err := store.Open(ctx, dir, store.Options{Key: store.KeyFile("store.key")})
//	op, err := s.Enqueue(ctx, payload, store.EnqueueOptions{IdempotencyKey: "order-42"})
//	lease, err := s.AcquireLock(ctx, store.LockRequest{Owner: "worker-1"})
//	op, err = s.Claim(ctx, lease.Token)
//	err = s.Ack(ctx, lease.Token, op.ID) // or s.Fail(ctx, lease.Token, op.ID, reason)
//
// # Key management
//
// The 32-byte master key comes from a [KeyFile] (refused unless its mode is
// 0600 or stricter), an environment variable ([KeyEnv]), bytes the caller
// fetched from its own secure storage ([KeyBytes]), or a [Passphrase]
// stretched with argon2id. It never encrypts records itself: it wraps one
// random data key per box. Open compares an HMAC of the master key with the
// key-check value in keyring.json before it reads or writes any box, so a
// wrong key returns [ErrWrongKey] and changes no byte on disk. Key material
// never appears in an error or a log line.
//
// # Guarantees
//
//   - Confidentiality and integrity: every value is sealed with
//     XChaCha20-Poly1305. The associated data binds the box name, the record
//     key, the key id and the format version, so a record moved to another
//     key or box, or altered, fails with [ErrCorrupt]. Record keys are stored
//     in the clear and must carry no personal data; the store's own keys are
//     random op ids, sequence numbers and keyed hashes of idempotency keys.
//   - Durability: with [SyncAlways] (the default) a call that returned
//     success has been fsynced. Concurrent commits to one box share an fsync
//     (group commit): commits gather while an fsync runs, and the next one
//     starts as soon as it returns. On Linux a box file is synced with
//     fdatasync, which also flushes the file size every append changes.
//     buntdb's own fsync ignores errors, so the store syncs
//     through its own descriptor; an fsync error is returned as [ErrSync]
//     and sticks: the box takes no more writes until the store is reopened,
//     because the kernel may already have dropped the unsynced pages.
//     [SyncInterval] and [SyncNever] trade that promise for speed in load
//     experiments; [Store.SyncMode] reports the mode so reports can state it.
//   - Atomic transactions: a transaction's records are either all loaded or
//     none (see Integrity).
//   - Atomic procedures: restore, erasure, key rotation and each migration
//     step (its data and the schema version together) replace box files
//     through a swap journal, written once the staged files and their
//     directory are fsynced, so after a crash Open finds the step wholly old
//     or finishes it. A journal whose staged file is gone while the live
//     file is not that file (recorded by size and sha256) is refused as
//     corruption, never finished halfway. [RecoverCorrupted] is journaled
//     before it moves a damaged file aside: until it finishes, Open refuses
//     the store as corrupt, and running it again resumes it.
//   - One opener: Open takes an exclusive flock on the directory. A second
//     Open, from this process or another, fails at once with a [LockedError]
//     naming the holder's pid. (buntdb alone lets two handles corrupt a file.)
//   - FIFO: ops are claimed in the order of their sequence numbers, which
//     Enqueue assigns under the same lock that orders the queue, and which
//     never repeat, across restarts too.
//   - Idempotent enqueue: a repeat of an idempotency key returns the first
//     op (Duplicate set) and adds nothing. After Ack, the key is recorded as
//     done, so a handler can act effectively once.
//   - At-least-once delivery: an op stays in pending_ops until Ack or Fail.
//     If its claimer loses the processing lock, the op is delivered again.
//   - Fencing: [Store.AcquireLock] returns a token larger than any before
//     (the lock record outlives its holders). Claim, Ack, Fail, Heartbeat and
//     ReleaseLock with any other token fail with [ErrStaleToken]. A lease
//     alone cannot keep two processors apart when clocks skew or a process
//     pauses; the token check, made under the store's queue lock, does.
//
// # Processing lock
//
// The record persistence_metadata/processing_lock holds the owner,
// startedAt, heartbeatAt and the token. It goes stale [Options.StaleAfter]
// (2 minutes by default) after the last heartbeat, judged by the clock of
// whoever asks, so each processor can run on its own (possibly skewed)
// [Clock]. Taking over a stale lock writes the audit entry
// stale_lock_recovered; [Store.ForceReleaseLock] is the operator's way out
// of a lock that never releases.
//
// # Failed ops
//
// [Store.Fail] moves a claimed op to failed_ops with its attempt count, the
// error and its next retry time: exponential backoff from RetryBase, capped
// at RetryMax, with equal jitter. [Store.Retry] re-enqueues it at the tail,
// keeping its id and idempotency key. [Store.Stats] raises an alert when
// failed_ops.count exceeds [Options.FailedOpsAlert] (20 by default).
//
// # Integrity
//
// buntdb appends each transaction's records with one write, in random order
// and with no end mark. On its own it loads a torn transaction half-applied,
// truncates every record after a damaged length prefix, returns flipped
// bytes as data, and panics on some records. So every transaction the store
// writes carries a marker record holding its sequence number, its record
// count, its byte length, and HMAC-SHA256 tags over the marker and over the
// other records. Before buntdb loads a box file, Open scans it:
//
//   - A torn tail, an incomplete last transaction, is cut back to the last
//     whole transaction, with any zeros after it (the blocks a power cut can
//     leave unwritten after a file's size advanced).
//   - So is a tail with a hole: 512-byte sectors of unsynced writes that
//     never reached the disk (zeros) while later ones did. Everything from
//     the last whole transaction before the first hole goes, later
//     transactions included: an fsync makes every earlier write durable, so
//     none of them was acknowledged. Zeros that are not whole unwritten
//     sectors, and any other bytes, are damage.
//   - A marker is known by its authenticated header, whatever its key: a
//     damaged marker key or length in the last transaction is damage, never
//     a torn tail.
//   - checkpoint.json, kept outside the box files, records each box's last
//     fsynced transaction and length, written after the boxes' fsyncs at
//     Close and at most [Options.CheckpointPeriod] (a second by default)
//     after a transaction became durable. A box that stops short of
//     it was truncated: damage, not a torn tail. (pending_index, derived
//     data, is not covered.)
//   - Anything else (a flipped bit, a changed length, a garbage line, a NUL
//     run, a missing transaction, or a cut with whole transactions behind it)
//     is a [CorruptionError] naming the box and the byte offset.
//   - No file content makes Open panic.
//
// What Open does then depends on [Options.Recovery], after RocksDB's WAL
// recovery modes: [TolerateTornTail] (the default) repairs torn tails and
// refuses damage; [Strict] refuses both; [PointInTime] keeps the whole
// transactions before the first damage; [SkipDamaged] drops only the damaged
// regions, resumes at the next transaction that verifies, and rewrites the
// file from the whole transactions it kept (a dropped transaction may have
// been a delete, so the result is not a point in time). Open never destroys bytes
// silently: before it cuts a file it copies the original to
// <box>_torntail_YYYYMMDD.bak or <box>_damage_YYYYMMDD.bak (a time is added
// when the name is taken), and writes the audit entry box_repaired saying
// which mode ran and what was dropped. [Store.Repairs] lists the same.
//
// # Record types and migrations
//
// Every record carries a [TypeID] in its envelope, chosen from the store's
// [Registry] by box and key prefix when it is sealed; [Store.Records] and
// [Registry.Decode] read records back by it (storectl inspect). A program
// with record types of its own builds its registry once at start-up with
// [NewRegistry], which refuses a duplicate id ("already a codec for typeId
// X"), and passes it as [Options.Types]. Likewise the schema migrations are
// the program's: [Options.Migrations], the built-in list
// ([BuiltinMigrations]) by default. Open copies both; the package holds no
// state a program could change, so stores with different options run side
// by side in one process.
//
// # Caveats
//
//   - The checkpoint cannot cover the transactions made durable after its
//     last write (up to one [Options.CheckpointPeriod] of writes under load;
//     everything since Open under SyncNever), nor a store or box without an
//     entry (stores of older versions, a box just replaced by a restore,
//     rotation or erasure). A cut into that window reads as a torn tail, and
//     a cut exactly at a transaction boundary there looks like a clean file;
//     likewise a sector of acknowledged data there that a faulty disk zeroed
//     reads as a hole. A shorter CheckpointPeriod narrows the window at the
//     cost of one more small atomic write (temp file, two fsyncs, rename)
//     per period under load; a longer one saves those writes on a slow disk
//     and widens it.
//   - pending_index is derived data. Claims are served from an in-memory FIFO
//     built at Open, and index changes are written behind in batches and
//     fsynced lazily; Open reconciles the index with pending_ops, adding
//     missing entries and dropping dangling ones. [Store.RebuildIndex] does
//     the same on demand and reports what it found.
//   - An op that Fail or Retry moves between boxes is written to its new box
//     before it leaves the old one; a crash in between leaves it in both,
//     and Open keeps the copy with the higher generation.
//   - The whole dataset lives in RAM, as buntdb keeps it: about 363 MB of
//     heap per million 256-byte records.
//   - buntdb files only grow: the store disables buntdb's shrink, which
//     would drop the transaction markers and renames without an fsync.
//
// # Failure model
//
// The store assumes a POSIX file system where fsync (or fdatasync) of a
// file makes its written bytes and its size durable and fsync of a directory makes a rename durable; a
// crash may tear the last write of a file anywhere, and may leave zeros
// where a file's size advanced over blocks that were never written. It
// defends against
// process kills, power loss under that model, bit rot and truncation
// detected as above, and a second opener. It does not defend against an
// attacker who can both write the files and read the key.
package store
