package faultfs

// The persistence model: which recorded operations an fsync makes durable,
// and which subsets of the rest a power loss may leave on disk.

import (
	"math/rand/v2"
)

// SectorSize is the unit a torn write is cut into: a sector either reached
// the disk whole or not at all.
const SectorSize = 512

// disk is a durable tree plus the operations not yet durable, in order.
// Recording an fsync moves the operations it covers into the tree. Applying
// them out of log order is sound because the durable set stays closed under
// "an earlier operation on the same inode data or the same directory", so
// the operations left pending never conflict with a later durable one.
type disk struct {
	durable *Tree
	pending []Op
}

// record adds one operation. A failed fsync of a file drops that file's
// pending data operations: after a writeback error Linux marks the pages
// clean, so no later fsync writes them.
func (d *disk) record(o Op) {
	if !o.isSync() {
		d.pending = append(d.pending, o)
		return
	}
	var drop []bool
	if o.Failed {
		if o.Kind != OpFsync {
			return
		}
		drop = make([]bool, len(d.pending))
		for i := range d.pending {
			drop[i] = d.pending[i].isData() && d.pending[i].Ino == o.Ino
		}
	} else {
		drop = covered(d.pending, o)
	}
	keep := make([]Op, 0, len(d.pending))
	for i := range d.pending {
		switch {
		case !drop[i]:
			keep = append(keep, d.pending[i])
		case !o.Failed:
			d.durable.apply(&d.pending[i], -1, -1)
		}
	}
	d.pending = keep
}

// covered reports which pending operations the successful sync s makes
// durable. An fsync of a file covers its earlier data operations. An fsync
// of a directory covers the earlier name operations in that directory; a
// rename is one atomic metadata change, so a covered rename also covers the
// name operations before it in its other directory, and so on.
func covered(pending []Op, s Op) []bool {
	cov := make([]bool, len(pending))
	if s.Kind == OpFsync {
		for i := range pending {
			cov[i] = pending[i].isData() && pending[i].Ino == s.Ino
		}
		return cov
	}
	limit := map[uint64]int{s.Ino: len(pending)}
	work := []uint64{s.Ino}
	for len(work) > 0 {
		d := work[len(work)-1]
		work = work[:len(work)-1]
		for i := 0; i < limit[d]; i++ {
			o := &pending[i]
			if cov[i] || !o.touches(d) {
				continue
			}
			cov[i] = true
			if o.Kind != OpRename {
				continue
			}
			for _, other := range []uint64{o.Dir, o.NewDir} {
				if other != d && limit[other] < i {
					limit[other] = i
					work = append(work, other)
				}
			}
		}
	}
	return cov
}

// piece is the part of a pending data operation that reaches the disk as a
// unit: one sector of a write, or a whole truncate or chmod (lo < 0).
type piece struct {
	op     int
	lo, hi int64
}

// split lists the pending name operations' count and the data pieces.
func split(pending []Op) (names int, pieces []piece) {
	for i := range pending {
		o := &pending[i]
		switch {
		case o.isName():
			names++
		case o.Kind == OpWrite:
			end := o.Off + int64(len(o.Data))
			for s := o.Off / SectorSize * SectorSize; s < end; s += SectorSize {
				pieces = append(pieces, piece{op: i, lo: max(o.Off, s), hi: min(end, s+SectorSize)})
			}
		case o.isData():
			pieces = append(pieces, piece{op: i, lo: -1, hi: -1})
		}
	}
	return names, pieces
}

// choice is one crash state: the first names pending name operations (a
// journal commits metadata in order) and the data pieces marked in keep (the
// page cache writes back in any order).
type choice struct {
	names int
	keep  []bool
}

// materialise applies a choice of pending operations to a copy of base.
// Kept pieces are applied in log order, so where two kept writes overlap the
// later one wins, as the page cache holds only the latest bytes.
func materialise(base *Tree, pending []Op, pieces []piece, c choice) *Tree {
	t := base.Clone()
	ni, pi := 0, 0
	for i := range pending {
		o := &pending[i]
		if o.isName() {
			if ni < c.names {
				t.apply(o, -1, -1)
			}
			ni++
			continue
		}
		for ; pi < len(pieces) && pieces[pi].op == i; pi++ {
			if c.keep[pi] {
				t.apply(o, pieces[pi].lo, pieces[pi].hi)
			}
		}
	}
	return t
}

// randomChoice draws a torn state: a random prefix of the name operations,
// and of the data pieces a random cut through a random order, so every
// number of surviving pieces is equally likely.
func randomChoice(rng *rand.Rand, names, pieces int) choice {
	c := choice{names: rng.IntN(names + 1), keep: make([]bool, pieces)}
	perm := rng.Perm(pieces)
	for _, p := range perm[:rng.IntN(pieces+1)] {
		c.keep[p] = true
	}
	return c
}

func newRand(seed uint64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, stream^0x9e3779b97f4a7c15))
}

// crashState returns what a power loss leaves of d: the durable tree alone
// for LoseUnsynced, or with a seeded torn subset of the pending operations.
func crashState(d *disk, mode PowerLossMode, seed uint64) *Tree {
	if mode != Torn || len(d.pending) == 0 {
		return d.durable.Clone()
	}
	names, pieces := split(d.pending)
	return materialise(d.durable, d.pending, pieces, randomChoice(newRand(seed, 0), names, len(pieces)))
}
