#!/usr/bin/env python3
"""A boxstorm target in Python, standard library only.

It speaks the target protocol (docs/target-protocol.md): one JSON request a
line on stdin, one reply a line on stdout. Its store is a directory with an
append-only journal, journal.jsonl: every change is one line, the CRC-32 of
a JSON entry in 8 hex digits, a space and the entry, written (and, with
sync "always", fsynced) before the reply, and replayed on open. A torn
last line (a crash mid-write) is dropped on open, after a copy of the
journal is kept and the open reply lists the repair; any other bad line
(a checksum that does not match) is corruption, reported with the byte
offset of the line.

It answers requests one at a time, in order. It claims the core request
types plus backup, restore, rotate-key, verify, state, export and audit,
and promises what PROMISES lists: not "encrypted", since the journal is
plain text.

The open request's settings it applies:
  sync              always: fsync the journal (and, when it creates the
                    journal, the directory) before replying; interval: a
                    background thread fsyncs every sync_interval_ms when
                    something was written; never: no fsync at all
  stale_after_ms    how long a lock lease lives without a heartbeat
  recovery          strict: a torn tail is corruption too; point-in-time:
                    keep what comes before the first damaged line and
                    drop the rest (a quarantine copy keeps it all); other
                    modes drop the torn tail
  failed_ops_alert  the failed-op count above which state lists an alert

Disk errors: a write that fails with ENOSPC or EFBIG, or is cut short, is
cut back off the journal and refused as disk-full. A failed fsync is
refused as disk-full too, and since the kernel may have dropped what it
could not write, the store then refuses every write until it is reopened:
it never acknowledges a write it could not make durable.

Keys: the journal is not encrypted; the master key only feeds a key check,
so a wrong key is refused before anything changes. A backup records the
key check of the key it was made under, and restore checks it against
backup_key (or the store's own key when backup_key is absent). rotate-key
replaces the key check by rename, so a crash leaves the old or the new.

Usage: target.py [--key-file FILE]   (FILE holds 64 hex digits; a fixed
development key is used without one)
"""

import errno
import fcntl
import hashlib
import json
import os
import re
import sys
import threading
import time
import zlib
from datetime import datetime

VERSION = 1
CORE = ["open", "close", "enqueue", "claim", "ack", "fail", "acquire",
        "heartbeat", "release", "get", "put"]
CAPS = CORE + ["backup", "restore", "rotate-key", "verify", "state", "export", "audit"]
# What the chaos checks may hold it to (docs/target-protocol.md, "open").
PROMISES = ["durable", "fenced", "integrity", "exclusive", "keyed"]
DEFAULT_SYNC_INTERVAL_MS = 1000
SCHEMA_VERSION = 1  # this target has no migrations
DEFAULT_STALE_AFTER_MS = 120000
DEFAULT_FAILED_OPS_ALERT = 20
BACKUP_MAGIC = "boxstorm-python-backup-v1"
JOURNAL = "journal.jsonl"


class TargetError(Exception):
    """A refused request: a protocol error class and a message, and for
    corruption the box and byte offset of the damage."""

    def __init__(self, cls, msg, box=None, offset=None):
        super().__init__(msg)
        self.cls, self.box, self.offset = cls, box, offset

    def wire(self):
        e = {"class": self.cls, "message": str(self)}
        if self.box is not None:
            e["box"] = self.box
        if self.offset is not None:
            e["offset"] = self.offset
        return e


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def parse_time(s):
    """Seconds since the epoch of an RFC 3339 time, as Go writes one."""
    m = re.match(r"(.*T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", s)
    if not m:
        raise TargetError("other", "%r is not an RFC 3339 time" % s)
    frac = (m.group(2) or ".")[:7].ljust(7, "0")
    tz = "+00:00" if m.group(3) == "Z" else m.group(3)
    return datetime.fromisoformat(m.group(1) + frac + tz).timestamp()


def key_check(key):
    return hashlib.sha256(b"boxstorm-key-check" + key).hexdigest()


def wire_op(op):
    """An op as replies carry it; payloads stay base64 as they arrived."""
    out = {"id": op["id"], "seq": op["seq"], "payload": op["payload"]}
    for name, field in (("idem", "idempotency_key"), ("subject", "subject"), ("attempts", "attempts")):
        if op.get(name):
            out[field] = op[name]
    return out


def encode_entry(e):
    """A journal line: the entry's CRC-32, a space, the entry, a newline."""
    body = json.dumps(e, separators=(",", ":")).encode()
    return b"%08x %s\n" % (zlib.crc32(body), body)


def parse_line(line):
    """The entry of a journal line, or None when its checksum fails."""
    try:
        if len(line) < 10 or line[8:9] != b" " or int(line[:8], 16) != zlib.crc32(line[9:]):
            return None
        return json.loads(line[9:])
    except ValueError:
        return None


def read_journal(path, data, strict, point_in_time=False):
    """The entries of a journal's bytes, and the offset of a torn tail or
    None. A torn tail is what a crash leaves of writes never fsynced: a
    last line without its newline, or damaged lines (a lost sector reads
    as zeros) with no good line after them. A damaged line with a good
    line after it is corruption, reported with its byte offset."""
    entries, offset = [], 0
    lines = data.split(b"\n")
    for i, line in enumerate(lines):
        end = offset + len(line) + 1
        if line and end > len(data) and not strict:
            return entries, offset  # no newline: a write cut short
        if line:
            e = parse_line(line)
            if e is None:
                if point_in_time or not strict and all(parse_line(l) is None for l in lines[i + 1:] if l):
                    return entries, offset
                raise TargetError("corrupt", "%s: damaged line at byte %d" % (path, offset),
                                  box="journal", offset=offset)
            entries.append(e)
        offset = end
    return entries, None


class Store:
    def __init__(self, path, key, settings):
        self.dir, self.key = path, key
        self.sync = settings.get("sync") or "always"
        if self.sync not in ("always", "interval", "never"):
            raise TargetError("other", "settings.sync %r: want always, interval or never" % self.sync)
        self.interval = (settings.get("sync_interval_ms") or DEFAULT_SYNC_INTERVAL_MS) / 1000.0
        self.stale_after = (settings.get("stale_after_ms") or DEFAULT_STALE_AFTER_MS) / 1000.0
        self.strict = settings.get("recovery") == "strict"
        self.point_in_time = settings.get("recovery") == "point-in-time"
        self.failed_alert = settings.get("failed_ops_alert") or DEFAULT_FAILED_OPS_ALERT
        self.repairs = []  # what this open repaired, for the open reply
        self.fd = None     # the journal, opened for appending
        self.mu = threading.Lock()  # orders journal writes and the interval thread's fsyncs
        self.dirty = False  # written since the last fsync (interval mode)
        self.broken = None  # why writes are refused after a failed fsync
        self.syncer, self.stop = None, threading.Event()
        os.makedirs(path, exist_ok=True)
        self.lockfd = os.open(os.path.join(path, "LOCK"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self.lockfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self.lockfd)
            self.lockfd = None
            raise TargetError("locked", "store %s is locked by another open" % path)
        try:
            self._check_key()
            self._load()
            self._open_journal()
            for r in self.repairs:
                self._write({"k": "audit", "e": "box_repaired", "f": r})
        except Exception:
            self.close()
            raise
        if self.sync == "interval":
            self.syncer = threading.Thread(target=self._sync_every_interval, daemon=True)
            self.syncer.start()

    def _check_key(self):
        p = os.path.join(self.dir, "keycheck")
        if os.path.exists(p):
            with open(p) as f:
                if f.read().strip() != key_check(self.key):
                    raise TargetError("wrong-key", "the master key does not match this store's key check")
            return
        self._write_key_check(self.key)

    def _write_key_check(self, key):
        """Replace the key check by rename: a crash leaves the old or the new."""
        p = os.path.join(self.dir, "keycheck")
        with open(p + ".tmp", "w") as f:
            f.write(key_check(key) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.rename(p + ".tmp", p)
        fsync_dir(self.dir)

    def _open_journal(self):
        p = os.path.join(self.dir, JOURNAL)
        created = not os.path.exists(p)
        self.fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.size = os.fstat(self.fd).st_size  # the end of the last whole line
        if created and self.sync != "never":
            # Its name too must survive a power loss before a write counts.
            os.fsync(self.fd)
            fsync_dir(self.dir)

    def _load(self):
        self.seq = 0
        self.ops = {}      # id -> op (pending or failed)
        self.order = []    # pending op ids, FIFO
        self.failed = []   # failed op ids, in the order they failed
        self.idem = {}     # idempotency key -> op id
        self.records = {}  # (box, key) -> payload (base64)
        self.audit = []    # audit event names, oldest first
        self.token = 0
        self.lock = None   # {"owner", "hb"} while a lease is held
        self.claims = {}   # op id -> token that claimed it
        p = os.path.join(self.dir, JOURNAL)
        if not os.path.exists(p):
            return
        with open(p, "rb") as f:
            data = f.read()
        entries, torn = read_journal(p, data, self.strict, self.point_in_time)
        for e in entries:
            try:
                self._apply(e)
            except (KeyError, TypeError):
                raise TargetError("corrupt", "%s: an entry that does not apply: %r" % (p, e), box="journal")
        if torn is not None:
            self._drop_tail(p, data, torn)

    def _drop_tail(self, p, data, offset):
        """Cut a torn last line, keeping the whole journal as a quarantine copy."""
        quarantine = "%s.torn-%d.bak" % (p, offset)
        with open(quarantine, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        with open(p, "r+b") as f:
            f.truncate(offset)
            os.fsync(f.fileno())
        fsync_dir(self.dir)
        self.repairs.append({"box": "journal", "kind": "torn-tail", "offset": offset,
                             "dropped_bytes": len(data) - offset, "quarantine": quarantine})

    def _apply(self, e):
        k = e["k"]
        if k == "enq":
            self.seq = max(self.seq, e["seq"])
            self.ops[e["id"]] = {"id": e["id"], "seq": e["seq"], "payload": e["p"], "idem": e.get("i", ""),
                                 "subject": e.get("s", ""), "attempts": 0}
            self.order.append(e["id"])
            if e.get("i"):
                self.idem[e["i"]] = e["id"]
        elif k == "ack":
            self.ops.pop(e["id"], None)
            if e["id"] in self.order:
                self.order.remove(e["id"])
        elif k == "fail":
            self.ops[e["id"]]["attempts"] += 1
            if e["id"] in self.order:
                self.order.remove(e["id"])
            self.failed.append(e["id"])
        elif k == "put":
            self.records[(e["b"], e["key"])] = e["v"]
        elif k == "tok":
            self.token = e["t"]
        elif k == "audit":
            self.audit.append(e["e"])
        else:
            raise KeyError(k)

    def _write(self, e):
        """Append e to the journal, durably under sync always, then apply it.
        A write that fails is cut back off, so the journal ends in a whole
        line and nothing unacknowledged is applied."""
        line = encode_entry(e)
        with self.mu:
            if self.broken:
                raise TargetError("disk-full", "an earlier fsync failed (%s): reopen the store" % self.broken)
            try:
                n = os.write(self.fd, line)
                if n != len(line):
                    raise OSError(errno.ENOSPC, "short write: %d of %d bytes" % (n, len(line)))
            except OSError as err:
                self._cut_back()
                cls = "disk-full" if err.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT) else "other"
                raise TargetError(cls, "write %s: %s" % (JOURNAL, err))
            self.dirty = True
            if self.sync == "always":
                self._fsync()
            self.size += len(line)
        self._apply(e)

    def _fsync(self):
        """fsync the journal (and after its creation, the directory); hold mu.
        After a failed fsync the kernel may have dropped the unsynced pages,
        so the file is not what was written: refuse every later write."""
        try:
            os.fsync(self.fd)
            self.dirty = False
        except OSError as err:
            self.broken = str(err)
            self._cut_back()
            raise TargetError("disk-full", "fsync %s: %s" % (JOURNAL, err))

    def _cut_back(self):
        try:
            os.ftruncate(self.fd, self.size)
        except OSError:
            pass  # the next open drops a torn tail

    def _sync_every_interval(self):
        while not self.stop.wait(self.interval):
            with self.mu:
                if self.dirty and not self.broken:
                    try:
                        self._fsync()
                    except TargetError as err:
                        sys.stderr.write("interval fsync: %s\n" % err)

    def close(self):
        self.stop.set()
        if self.syncer is not None:
            self.syncer.join()
            self.syncer = None
        if self.fd is not None:
            with self.mu:
                if self.sync != "never" and self.dirty and not self.broken:
                    try:
                        self._fsync()
                    except TargetError as err:
                        sys.stderr.write("close: %s\n" % err)
                os.close(self.fd)
                self.fd = None
        if self.lockfd is not None:
            os.close(self.lockfd)
            self.lockfd = None

    def check_token(self, token):
        if self.lock is None or token != self.token:
            raise TargetError("stale-token", "token %d is not the current token %d" % (token, self.token))


class Target:
    def __init__(self, key):
        self.key = key
        self.store = None

    def handle(self, req):
        t = req.get("type")
        fn = getattr(self, "do_" + str(t).replace("-", "_"), None)
        if fn is None or t not in CAPS:
            raise TargetError("unsupported", "request type %r is not supported" % t)
        if t != "open" and self.store is None:
            raise TargetError("other", "%s: the store is not open; send open first" % t)
        return fn(req) or {}

    def do_open(self, req):
        if req.get("version") != VERSION:
            raise TargetError("unsupported", "protocol version %r: this target speaks %d" % (req.get("version"), VERSION))
        key = bytes.fromhex(req["master_key"]) if req.get("master_key") else self.key
        if self.store is not None:
            raise TargetError("locked", "a store is open already")
        self.store = Store(req["dir"], key, req.get("settings") or {})
        rep = {"version": VERSION, "target": "python-example", "target_version": "0.1", "capabilities": CAPS,
               "promises": PROMISES}
        if self.store.repairs:
            rep["repairs"] = self.store.repairs
        return rep

    def do_close(self, req):
        self.store.close()
        self.store = None

    def do_enqueue(self, req):
        s = self.store
        idem = req.get("idempotency_key", "")
        if idem and idem in s.idem:
            op = s.ops.get(s.idem[idem])
            return {"op": {"id": s.idem[idem], "seq": op["seq"] if op else 0, "idempotency_key": idem, "duplicate": True}}
        seq = s.seq + 1
        # A random tail: after a power loss under sync interval or never a
        # lost op's seq is handed out again, but its id must not be.
        oid = "op-%016d-%s" % (seq, os.urandom(4).hex())
        s._write({"k": "enq", "id": oid, "seq": seq, "p": req.get("payload", ""), "i": idem, "s": req.get("subject", "")})
        return {"op": {"id": oid, "seq": seq, "idempotency_key": idem} if idem else {"id": oid, "seq": seq}}

    def do_claim(self, req):
        s = self.store
        s.check_token(req.get("token", 0))
        for oid in s.order:
            if oid not in s.claims:
                s.claims[oid] = s.token
                return {"op": wire_op(s.ops[oid])}
        return {"outcome": "empty"}

    def _settle(self, req, entry):
        s = self.store
        s.check_token(req.get("token", 0))
        oid = req.get("op_id", "")
        if s.claims.get(oid) != s.token:
            return {"outcome": "not-claimed"}
        del s.claims[oid]
        s._write(dict(entry, id=oid))

    def do_ack(self, req):
        return self._settle(req, {"k": "ack"})

    def do_fail(self, req):
        return self._settle(req, {"k": "fail", "r": req.get("reason", "")})

    def do_acquire(self, req):
        s = self.store
        now = parse_time(req["now"]) if req.get("now") else time.time()
        if s.lock is not None and now - s.lock["hb"] < s.stale_after:
            return {"outcome": "lock-held"}
        if s.lock is not None:
            s._write({"k": "audit", "e": "stale_lock_recovered", "f": {"owner": s.lock["owner"]}})
        s._write({"k": "tok", "t": s.token + 1})
        s.lock = {"owner": req.get("owner", ""), "hb": now}
        s.claims = {}
        return {"token": s.token}

    def do_heartbeat(self, req):
        s = self.store
        s.check_token(req.get("token", 0))
        s.lock["hb"] = parse_time(req["now"]) if req.get("now") else time.time()

    def do_release(self, req):
        s = self.store
        s.check_token(req.get("token", 0))
        s.lock = None
        s.claims = {}

    def do_get(self, req):
        v = self.store.records.get((req.get("box", ""), req.get("key", "")))
        if v is None:
            return {"outcome": "not-found"}
        return {"value": v}

    def do_put(self, req):
        self.store._write({"k": "put", "b": req.get("box", ""), "key": req.get("key", ""), "v": req.get("payload", "")})

    def do_backup(self, req):
        s = self.store
        with open(os.path.join(s.dir, JOURNAL), "rb") as f:
            body = f.read()
        meta = {"magic": BACKUP_MAGIC, "sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body),
                "schema_version": SCHEMA_VERSION, "key_check": key_check(s.key)}
        tmp = req["path"] + ".tmp"
        with open(tmp, "wb") as f:
            f.write(json.dumps(meta).encode() + b"\n" + body)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, req["path"])
        fsync_dir(os.path.dirname(os.path.abspath(req["path"])))
        return {"detail": meta}

    def do_restore(self, req):
        s = self.store
        with open(req["path"], "rb") as f:
            data = f.read()
        head, _, body = data.partition(b"\n")
        try:
            meta = json.loads(head)
            ok = meta.get("magic") == BACKUP_MAGIC and meta.get("sha256") == hashlib.sha256(body).hexdigest()
        except ValueError:
            ok = False
        if not ok:
            raise TargetError("backup-invalid", "%s is not an intact backup" % req["path"])
        key = bytes.fromhex(req["backup_key"]) if req.get("backup_key") else s.key
        if meta.get("key_check") != key_check(key):
            raise TargetError("wrong-key", "%s was made under another key: send its backup_key" % req["path"])
        want = req.get("expected_schema") or 0
        if want and meta.get("schema_version") != want:
            raise TargetError("schema-mismatch", "%s has schema version %s, want %d" % (req["path"], meta.get("schema_version"), want))
        # Checked: now swap the journal in by rename, then replay it.
        p = os.path.join(s.dir, JOURNAL)
        with open(p + ".tmp", "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        with s.mu:
            os.close(s.fd)
            s.fd = None
            os.rename(p + ".tmp", p)
            fsync_dir(s.dir)
        token, lock = s.token, s.lock
        s._load()
        s._open_journal()
        s.lock = lock  # the lease lives on, and its fencing token never goes back
        if s.token < token:
            s._write({"k": "tok", "t": token})
        s._write({"k": "audit", "e": "backup_restored", "f": {"bytes": len(body)}})
        return {"detail": {"bytes": len(body), "schema_version": meta.get("schema_version")}}

    def do_rotate_key(self, req):
        s = self.store
        new = bytes.fromhex(req.get("new_master_key") or "")
        if len(new) != 32:
            raise TargetError("other", "rotate-key: new_master_key wants 64 hex digits")
        s._write_key_check(new)
        s.key = new
        s._write({"k": "audit", "e": "key_rotated", "f": {}})

    def do_verify(self, req):
        s = self.store
        p = os.path.join(s.dir, JOURNAL)
        with open(p, "rb") as f:
            read_journal(p, f.read(), True)
        return {"detail": {"ops": len(s.order), "records": len(s.records)}}

    def do_state(self, req):
        s = self.store
        # A page of each list: from pending_from and failed_from, at most
        # limit ops (all when 0); "more" says the harness should ask again.
        limit = req.get("limit") or 0
        pending = s.order[req.get("pending_from") or 0:]
        failed = s.failed[req.get("failed_from") or 0:]
        more = bool(limit) and (len(pending) > limit or len(failed) > limit)
        if limit:
            pending, failed = pending[:limit], failed[:limit]
        state = {"pending": [wire_op(s.ops[i]) for i in pending],
                 "failed": [wire_op(s.ops[i]) for i in failed], "more": more,
                 "schema_version": SCHEMA_VERSION, "audit": s.audit, "failed_ops": len(s.failed)}
        if len(s.failed) > s.failed_alert:
            state["alerts"] = ["failed_ops.count %d is above the threshold %d" % (len(s.failed), s.failed_alert)]
        return {"state": state}

    def do_export(self, req):
        s = self.store
        subject = req.get("subject", "")
        return {"ops": [wire_op(s.ops[i]) for i in s.order + s.failed if subject and s.ops[i]["subject"] == subject]}

    def do_audit(self, req):
        if not req.get("event"):
            raise TargetError("other", "audit: no event")
        self.store._write({"k": "audit", "e": req["event"], "f": req.get("fields") or {}})


def main():
    key = b"\x00" * 32
    args = sys.argv[1:]
    if len(args) == 2 and args[0] == "--key-file":
        with open(args[1]) as f:
            key = bytes.fromhex(f.read().strip())
    elif args:
        sys.stderr.write("usage: target.py [--key-file FILE]\n")
        return 2
    t = Target(key)
    for line in sys.stdin:
        if not line.strip():
            continue
        rid = 0
        try:
            req = json.loads(line)
            rid = req.get("id", 0)
            rep = t.handle(req)
        except TargetError as e:
            rep = {"error": e.wire()}
        except Exception as e:  # a bug or an I/O error: class other, keep serving
            rep = {"error": {"class": "other", "message": "%s: %s" % (type(e).__name__, e)}}
        rep["id"] = rid
        sys.stdout.write(json.dumps(rep, separators=(",", ":")) + "\n")
        sys.stdout.flush()
    if t.store is not None:
        t.store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
