// Package archive writes and reads boxstorm's encrypted backup archives. It
// knows nothing of the store: it archives named boxes of (key, value)
// records, and reads them back while verifying all of them. docs/backup-format.md is the specification; this is the manual.
//
// # Format
//
// An archive is an age file (filippo.io/age, binary, not armored) whose
// plaintext is a tar stream:
//
//	backup_meta.json        first, at most MaxMetaSize bytes
//	boxes/<box>.jsonl       one per box, in the order backup_meta.json lists them
//
// backup_meta.json holds format_version (FormatVersion), schema_version,
// created_at, store_id, tool_version, and for each box its name, record
// count, byte count and the SHA-256 of its dump exactly as stored. A dump
// holds one line per record, in strictly ascending byte order of key:
//
//	{"k":"<key>","v":"<value in standard base64, padded>"}
//
// Keys are printable ASCII, with `"` and `\` escaped by a backslash; values
// are opaque bytes. Each record has exactly one encoding, and readers accept
// no other, so a dump's hash is a function of its records.
//
// # Writing
//
// [Write] takes the boxes as [Records] functions and calls each twice: first
// to count and hash, because backup_meta.json must precede the dumps, then to
// write. Nothing is spooled to disk and no record is held in memory twice.
// Both runs must yield the same records; Write fails with [ErrInvalidInput]
// if they do not, and what it wrote is then not a whole age file.
//
// An archive of anything else that is line-shaped, such as failed ops purged
// from the queue, is a Write of one box.
//
// # Restoring
//
// [Read] decrypts and verifies the archive in one pass and hands each box's
// records to a callback as they arrive; see its documentation for the exact
// order of checks. It writes nothing: the store seals the records into new
// box files as they come, so a decrypted record never reaches a disk.
// Records arrive before the checks that close their box and the archive, so
// nothing live should change before Read has returned without error.
//
// # Key management
//
// [NewKey] derives an age X25519 identity from a 32-byte backup key with
// HKDF-SHA-256, deterministically, so the store keeps one secret and restores
// need no key file. X25519 costs one scalar multiplication per archive; an
// scrypt passphrase recipient would cost about a second. [Key.Recipient] also
// writes a key-id stanza to the header, which is what lets Read report a
// wrong key as [ErrWrongKey] and a damaged header as [ErrTampered]. Callers
// may pass any other age recipient and identity, including scrypt ones;
// without the key-id stanza a damaged X25519 stanza reads as ErrWrongKey.
//
// # Errors
//
// Every failure caused by the archive's content matches one sentinel under
// errors.Is: [ErrTruncated], [ErrTampered], [ErrWrongKey],
// [ErrSchemaMismatch] (as *[SchemaMismatchError]), [ErrCountMismatch],
// [ErrHashMismatch], [ErrUnsafeEntry] (as *[UnsafeEntryError]) or
// [ErrUnsupportedFormat]. The one exception: when the input's last chunk
// fails authentication, the error matches both ErrTruncated and ErrTampered,
// since a cut inside a chunk and a flipped byte in the final chunk are the
// same thing to age. A cut on a chunk boundary, or anywhere in the header,
// is ErrTruncated alone; damage anywhere before the last chunk is
// ErrTampered alone. I/O errors from src pass through wrapped and
// match none of them.
//
// # Caveats
//
//   - age authenticates content, not its author: anyone who holds the
//     recipient can write an archive Read accepts. The recipient derived by
//     NewKey is never stored or printed, and the key id in the header is a
//     separate HKDF output, so in practice only the backup key's holder can.
//   - Read hands over as many records as the archive's own meta declares; a
//     caller that stores them should check free space against the Meta of a
//     trusted source if that matters.
//
// # Backwards compatibility
//
// FormatVersion changes with any change to the layout, the meta fields or the
// line encoding; readers refuse unknown meta fields, so additions bump it too.
// A reader refuses versions newer than its own with [ErrUnsupportedFormat] and
// keeps reading every older one. testdata/ holds a version 1 archive that
// every future build must still read.
package archive
