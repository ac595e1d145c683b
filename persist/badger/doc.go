// Package badger implements persist.Store on BadgerDB, an embedded LSM
// key-value store, for servers. It is not available with GOOS=js: browsers
// use persist/memory or an IndexedDB backend instead.
//
// # Durability and group commit
//
// Update returns only after its writes are on stable storage. Rather than
// syncing once per transaction, as BadgerDB's SyncWrites option does, the
// store runs read-write transactions one at a time on a single writer
// goroutine and commits them in groups: every transaction that arrives
// while the previous group is being synced joins the next group, which is
// made durable once, by one write and one data sync of the store's own
// journal (see journal.go: BadgerDB's memory-mapped log is synced only at
// checkpoints). Each callback's writes are kept in a private copy-on-write
// layer until it returns, so a failing callback is rolled back without
// affecting the others in its group, and each callback runs exactly once.
//
// The writer pipelines: the callbacks of the next group run, reading what
// the syncing group wrote, while that group's sync is in flight. The next
// group is committed only after the sync has finished, so that each sync
// covers a whole group. If a sync fails, the transactions that read its
// group's writes fail too, and the store stops accepting writes, since the
// state on disk is then unknown.
//
// Synced groups reach BadgerDB later, many at a time, on another goroutine
// (see apply.go); until then reads find their writes in memory, over a
// BadgerDB snapshot at the last timestamp it holds. Readers never see data
// that is not yet durable: View reads what the last synced group left.
package badger
