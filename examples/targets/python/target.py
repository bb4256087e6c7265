#!/usr/bin/env python3
"""A boxstorm target in Python, standard library only.

It speaks the target protocol (docs/target-protocol.md): one JSON request a
line on stdin, one reply a line on stdout. Its store is a directory with an
append-only journal, journal.jsonl: every change is one JSON line, written
and fsynced before the reply, and replayed on open. A torn last line (a
crash mid-write) is dropped on open; any other bad line is corruption.

It answers requests one at a time, in order, and claims the core request
types plus backup, restore and verify.

Usage: target.py [--key-file FILE]   (FILE holds 64 hex digits; a fixed
development key is used without one)
"""

import base64
import fcntl
import hashlib
import json
import os
import sys

VERSION = 1
CAPS = ["open", "close", "enqueue", "claim", "ack", "fail", "acquire",
        "heartbeat", "release", "get", "put", "backup", "restore", "verify"]
STALE_AFTER = 120.0  # seconds without a heartbeat before the lock is stale
BACKUP_MAGIC = "boxstorm-python-backup-v1"


class TargetError(Exception):
    def __init__(self, cls, msg):
        super().__init__(msg)
        self.cls = cls


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def parse_time(s):
    # RFC 3339 from Go; only differences between times matter here.
    from datetime import datetime
    s = s.replace("Z", "+00:00")
    if "." in s:
        head, rest = s.split(".", 1)
        frac, tz = rest[:rest.index("+") if "+" in rest else rest.index("-")], \
            rest[rest.index("+") if "+" in rest else rest.index("-"):]
        s = head + "." + frac[:6].ljust(6, "0") + tz
    return datetime.fromisoformat(s).timestamp()


class Store:
    def __init__(self, path, key):
        self.dir = path
        os.makedirs(path, exist_ok=True)
        self.lockfd = os.open(os.path.join(path, "LOCK"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self.lockfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self.lockfd)
            raise TargetError("locked", "store %s is locked by another open" % path)
        try:
            self._check_key(key)
            self._load()
        except Exception:
            self.close()
            raise
        self.journal = open(os.path.join(path, "journal.jsonl"), "a", encoding="utf-8")

    def _check_key(self, key):
        check = hashlib.sha256(b"boxstorm-key-check" + key).hexdigest()
        p = os.path.join(self.dir, "keycheck")
        if os.path.exists(p):
            with open(p) as f:
                if f.read().strip() != check:
                    raise TargetError("wrong-key", "the master key does not match this store's key check")
            return
        tmp = p + ".tmp"
        with open(tmp, "w") as f:
            f.write(check + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, p)
        fsync_dir(self.dir)

    def _load(self):
        self.seq = 0
        self.ops = {}      # id -> op dict (pending, failed or claimed)
        self.order = []    # pending op ids in FIFO order
        self.idem = {}     # idempotency key -> op id
        self.records = {}  # (box, key) -> bytes
        self.token = 0
        self.lock = None   # {"owner", "hb"} or None
        self.claims = {}   # op id -> token
        p = os.path.join(self.dir, "journal.jsonl")
        if not os.path.exists(p):
            return
        with open(p, "rb") as f:
            data = f.read()
        lines = data.split(b"\n")
        good = 0
        for i, line in enumerate(lines):
            if line == b"":
                good += 1
                continue
            try:
                self._apply(json.loads(line))
            except (ValueError, KeyError):
                if i == len(lines) - 1:  # torn tail: drop it
                    with open(p, "r+b") as f:
                        f.truncate(sum(len(l) + 1 for l in lines[:i]))
                        os.fsync(f.fileno())
                    return
                raise TargetError("corrupt", "journal line %d is damaged" % (i + 1))

    def _apply(self, e):
        k = e["k"]
        if k == "enq":
            self.seq = max(self.seq, e["seq"])
            self.ops[e["id"]] = {"id": e["id"], "seq": e["seq"], "payload": e["p"],
                                 "idem": e.get("i", ""), "attempts": 0, "state": "pending"}
            self.order.append(e["id"])
            if e.get("i"):
                self.idem[e["i"]] = e["id"]
        elif k == "ack":
            self.ops.pop(e["id"], None)
            if e["id"] in self.order:
                self.order.remove(e["id"])
        elif k == "fail":
            op = self.ops[e["id"]]
            op["attempts"] += 1
            op["state"] = "failed"
            if e["id"] in self.order:
                self.order.remove(e["id"])
        elif k == "put":
            self.records[(e["b"], e["key"])] = e["v"]
        elif k == "tok":
            self.token = e["t"]

    def _write(self, e):
        self._apply(e)
        self.journal.write(json.dumps(e, separators=(",", ":")) + "\n")
        self.journal.flush()
        try:
            os.fsync(self.journal.fileno())
        except OSError as err:
            raise TargetError("disk-full", "fsync: %s" % err)

    def close(self):
        if getattr(self, "journal", None):
            self.journal.close()
            self.journal = None
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
            Store(req["dir"], key)  # the directory lock refuses it: locked
            raise TargetError("locked", "a store is open already")
        self.store = Store(req["dir"], key)
        return {"version": VERSION, "target": "python-example", "target_version": "0.1", "capabilities": CAPS}

    def do_close(self, req):
        self.store.close()
        self.store = None

    def do_enqueue(self, req):
        s = self.store
        idem = req.get("idempotency_key", "")
        if idem and idem in s.idem:
            op = s.ops.get(s.idem[idem])
            return {"op": {"id": s.idem[idem], "seq": op["seq"] if op else 0, "duplicate": True}}
        seq = s.seq + 1
        oid = "op-%016d" % seq
        s._write({"k": "enq", "id": oid, "seq": seq, "p": req.get("payload", ""), "i": idem})
        return {"op": {"id": oid, "seq": seq, "idempotency_key": idem}}

    def do_claim(self, req):
        s = self.store
        s.check_token(req.get("token", 0))
        for oid in s.order:
            if oid not in s.claims:
                s.claims[oid] = s.token
                op = s.ops[oid]
                return {"op": {"id": oid, "seq": op["seq"], "payload": op["payload"]}}
        return {"outcome": "empty"}

    def _settle(self, req, kind):
        s = self.store
        s.check_token(req.get("token", 0))
        oid = req.get("op_id", "")
        if s.claims.get(oid) != s.token:
            return {"outcome": "not-claimed"}
        del s.claims[oid]
        s._write({"k": kind, "id": oid})
        return {}

    def do_ack(self, req):
        return self._settle(req, "ack")

    def do_fail(self, req):
        return self._settle(req, "fail")

    def do_acquire(self, req):
        s = self.store
        now = parse_time(req["now"]) if req.get("now") else __import__("time").time()
        if s.lock is not None and now - s.lock["hb"] < STALE_AFTER:
            return {"outcome": "lock-held"}
        s._write({"k": "tok", "t": s.token + 1})
        s.lock = {"owner": req.get("owner", ""), "hb": now}
        s.claims = {}
        return {"token": s.token}

    def do_heartbeat(self, req):
        s = self.store
        s.check_token(req.get("token", 0))
        s.lock["hb"] = parse_time(req["now"]) if req.get("now") else __import__("time").time()

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
        with open(os.path.join(self.store.dir, "journal.jsonl"), "rb") as f:
            body = f.read()
        meta = {"magic": BACKUP_MAGIC, "sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}
        tmp = req["path"] + ".tmp"
        with open(tmp, "wb") as f:
            f.write(json.dumps(meta).encode() + b"\n" + body)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, req["path"])
        fsync_dir(os.path.dirname(os.path.abspath(req["path"])))
        return {"detail": meta}

    def do_restore(self, req):
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
        s = self.store
        p = os.path.join(s.dir, "journal.jsonl")
        with open(p + ".tmp", "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        s.journal.close()
        os.rename(p + ".tmp", p)
        fsync_dir(s.dir)
        s._load()
        s.journal = open(p, "a", encoding="utf-8")
        return {"detail": {"bytes": len(body)}}

    def do_verify(self, req):
        s = self.store
        with open(os.path.join(s.dir, "journal.jsonl"), "rb") as f:
            for i, line in enumerate(f.read().split(b"\n")):
                if line:
                    try:
                        json.loads(line)
                    except ValueError:
                        raise TargetError("corrupt", "journal line %d is damaged" % (i + 1))
        return {"detail": {"ops": len(s.order), "records": len(s.records)}}


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
            rep = {"error": {"class": e.cls, "message": str(e)}}
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
