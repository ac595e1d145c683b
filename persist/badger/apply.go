//go:build !js

package badger

import (
	"fmt"

	"hearth/persist/internal/tree"
)

// A group is durable once its journal record is synced, so the store need
// not wait for BadgerDB to take its writes before acknowledging it. The
// writer keeps the writes of committed groups in memory, in view, until
// BadgerDB has them, and reads (the next groups' and View's) see view on
// top of BadgerDB at the last applied timestamp. An applier goroutine
// writes them to BadgerDB in the background: the groups synced while the
// previous apply ran go together, as one BadgerDB transaction per database
// at the newest group's timestamp. Under load that is one BadgerDB commit,
// with its goroutine handoffs, for many groups, off the path of any writer.
//
// An apply starts once the synced groups not yet applied hold an eighth of
// a journal segment in keys and values (Store.applyAt; 256 KiB, so a
// checkpoint finds little left to apply), before a checkpoint, and at
// Close. Under load one BadgerDB commit then takes a few hundred messages,
// and an idle store keeps its last writes in memory (they are durable in
// the journal).
//
// Only synced groups are applied, so BadgerDB never holds a write whose
// journal record could be lost. Versions newer than the last checkpoint are
// never discarded (see publish), and a checkpoint first applies every
// group before it; so replay after a crash still finds the record of every
// group BadgerDB may lack, or hold in one database only.

// maxUnapplied bounds the bytes of keys and values committed but not yet
// applied to BadgerDB: a group that would go past it waits for the apply in
// flight, so that memory stays bounded when BadgerDB falls behind (as when
// it stalls writes for a compaction).
const maxUnapplied = 64 << 20

// published is what a new View reads: BadgerDB at base, under view, which
// holds at least every write of the groups after base up to the newest
// durable one. A view may also hold writes BadgerDB already has at base;
// they are the same writes, so reading them from view changes nothing.
type published struct {
	base uint64
	view tree.Tree[entry] // frozen
}

// maybeApply starts an apply when the groups waiting for one hold
// s.applyAt bytes. The caller (the writer goroutine) makes sure that no
// group in s.since awaits its sync.
func (s *Store) maybeApply() {
	if s.sinceUsed.raw >= s.applyAt {
		s.startApply()
	}
}

// startApply hands the synced groups not yet applied to the applier, if
// none is running. The caller (the writer goroutine) makes sure that no
// group in s.since awaits its sync.
func (s *Store) startApply() {
	if s.applying != nil || s.since.Len() == 0 || s.failure() != nil {
		return
	}
	s.since.Freeze()
	batch, base, ts := s.since, s.applied, s.writeTs
	done := make(chan error, 1)
	s.applying, s.applyingTs, s.applyingRaw = done, ts, s.sinceUsed.raw
	s.since, s.sinceUsed = tree.Tree[entry]{}, usage{}
	go func() { done <- s.applyBatch(&batch, base, ts) }()
}

// finishApply records the outcome of the apply that was in flight. After a
// failure BadgerDB's state is unknown and the store stops writing; view
// keeps every write it lacks, so reads stay right, and the journal applies
// them at the next Open.
func (s *Store) finishApply(err error) error {
	s.applying, s.applyingRaw = nil, 0
	if err != nil {
		return s.writeError("apply", err)
	}
	s.applied = s.applyingTs
	// What BadgerDB lacks now is what was committed since the apply began.
	s.since.Freeze()
	s.view = s.since
	return nil
}

// waitApply waits for the apply in flight, if any.
func (s *Store) waitApply() error {
	if s.applying == nil {
		return nil
	}
	return s.finishApply(<-s.applying)
}

// applyAll applies every committed group to BadgerDB and waits for it. The
// caller makes sure they are all synced.
func (s *Store) applyAll() error {
	if err := s.waitApply(); err != nil {
		return err
	}
	s.startApply()
	if err := s.waitApply(); err != nil {
		return err
	}
	return s.failure()
}

// apply writes batch, the writes of the groups after base up to ts, to
// BadgerDB at ts: one transaction per database, more if they exceed what
// BadgerDB takes in one. Readers read BadgerDB at base until the writer
// learns that the apply is done.
func (s *Store) apply(batch *tree.Tree[entry], base, ts uint64) error {
	c := newChunkedTxns(s.db, s.lim, base, ts)
	defer c.txns.discard()
	for it := batch.Iter(nil, nil, false); it.Next(); {
		if err := c.write(it.Key(), it.Value()); err != nil {
			return fmt.Errorf("stage write: %w", err)
		}
	}
	if err := c.commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
