//go:build !js

package badger

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// The journal makes each group durable with one write and one data sync of
// a preallocated file. BadgerDB's own Sync would do the same job by
// msyncing the memory-mapped, sparse write-ahead log of its memtable, which
// on the ext4 disks we measured costs about three times the CPU and twice
// the wall time per group, and makes the next writes to the same pages
// fault again. BadgerDB still writes its write-ahead logs; they are synced
// only at a checkpoint, and the kernel writes them back in between.
//
// A group's record is written (staged) and synced before the group is
// acknowledged, and the group reaches BadgerDB only after that (see
// apply.go). So after a crash, replay finds the record of every group that
// BadgerDB may lack or hold in part, and applies it whole: with a value
// log (see parts), an apply commits to two databases, and a crash between
// the two commits would otherwise leave half of it.
//
// The journal has two segments of a fixed size, written in turn. When the
// current one is full, the store applies every group before the new one,
// then a checkpoint makes them durable in BadgerDB itself (its Sync, plus a data sync of every memtable
// log, since the logs of memtables waiting to be flushed are not covered by
// Sync), and the other segment is started over with a marker record that
// holds the timestamp the checkpoint covers. So the segment whose marker is
// newer holds every group after the last checkpoint, and the other one
// holds nothing that is needed any more.
//
// A record is a header, then the group's writes:
//
//	length  uint32 (bytes after the header)
//	crc     uint32 (Castagnoli, of length, ts and the writes)
//	ts      uint64 (the group's commit timestamp)
//	writes  repeated: kind byte (1 set, 2 delete), uvarint key length, key,
//	        and for a set uvarint value length, value
//
// A marker is a record without writes. Recovery (replay) applies, in order,
// the records after the newest marker, up to the first one that is torn,
// zero or not newer than the one before. Records BadgerDB recovered by
// itself are applied again, harmlessly: the store never lets BadgerDB
// discard versions newer than the last checkpoint (see publish), so a
// record applied again never shadows a newer write or brings back a key
// deleted after it.
type journal struct {
	dir      string   // where the segments are
	logDirs  []string // where BadgerDB's memtable logs are
	segs     [2]*os.File
	cur      int   // segment being written
	off      int64 // where the next record goes in it
	size     int64 // bytes per segment
	dataSync func(f *os.File) error

	// sync makes everything committed to BadgerDB's current memtable
	// durable (db.Sync).
	sync func() error
	// durable is the timestamp the last checkpoint covers.
	durable uint64
}

const (
	journalHeader = 16
	recordSet     = 1
	recordDelete  = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// journalName is the file name of segment i in the store's directory.
func journalName(i int) string { return fmt.Sprintf("hearth-journal-%d", i) }

// openJournal opens (creating and preallocating if needed) the segments in
// dir.
func openJournal(dir string, logDirs []string, size int64, sync func() error) (*journal, error) {
	j := &journal{dir: dir, logDirs: logDirs, size: size, sync: sync, dataSync: dataSync}
	created := false
	for i := range j.segs {
		f, err := os.OpenFile(filepath.Join(dir, journalName(i)), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			j.close()
			return nil, fmt.Errorf("journal: %w", err)
		}
		j.segs[i] = f
		fi, err := f.Stat()
		if err != nil {
			j.close()
			return nil, fmt.Errorf("journal: %w", err)
		}
		if fi.Size() < size {
			created = true
			if err := preallocate(f, size); err == nil {
				err = f.Sync() // the size and the blocks
			}
			if err != nil {
				j.close()
				return nil, fmt.Errorf("journal: preallocate %s: %w", f.Name(), err)
			}
		}
	}
	if created {
		// The new files' names must survive a crash too.
		if err := syncDir(dir); err != nil {
			j.close()
			return nil, fmt.Errorf("journal: %w", err)
		}
	}
	return j, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (j *journal) close() error {
	var errs []error
	for i, f := range j.segs {
		if f != nil {
			errs = append(errs, f.Close())
			j.segs[i] = nil
		}
	}
	return errors.Join(errs...)
}

// record encodes a group's writes as a journal record for the commit
// timestamp ts. Add writes with add, then take the bytes with seal.
type record struct{ buf []byte }

// newRecord starts a record with room for size bytes of writes.
func newRecord(ts uint64, size int64) record {
	buf := make([]byte, journalHeader, journalHeader+size)
	binary.LittleEndian.PutUint64(buf[8:], ts)
	return record{buf}
}

func (r *record) add(key []byte, e entry) {
	if e.del {
		r.buf = append(r.buf, recordDelete)
		r.buf = binary.AppendUvarint(r.buf, uint64(len(key)))
		r.buf = append(r.buf, key...)
		return
	}
	r.buf = append(r.buf, recordSet)
	r.buf = binary.AppendUvarint(r.buf, uint64(len(key)))
	r.buf = append(r.buf, key...)
	r.buf = binary.AppendUvarint(r.buf, uint64(len(e.value)))
	r.buf = append(r.buf, e.value...)
}

func (r *record) seal() []byte {
	binary.LittleEndian.PutUint32(r.buf[0:], uint32(len(r.buf)-journalHeader))
	crc := crc32.Update(crc32.Checksum(r.buf[0:4], castagnoli), castagnoli, r.buf[8:])
	binary.LittleEndian.PutUint32(r.buf[4:], crc)
	return r.buf
}

// stage writes rec, the record of the group committed at ts, after the
// records before it, without syncing it (syncStaged does). When the
// current segment is full, stage first checkpoints, which must cover every
// group before ts (the caller has applied them to BadgerDB), and starts
// the other segment with a marker; a record larger than a segment takes
// that segment past its preallocated size.
func (j *journal) stage(ts uint64, rec []byte) error {
	if j.full(len(rec)) {
		if err := j.checkpoint(); err != nil {
			return err
		}
		j.cur, j.off = 1-j.cur, 0
		marker := newRecord(ts-1, 0)
		rec = append(marker.seal(), rec...)
		// Read only by publish, once this record, after the marker, is
		// synced.
		j.durable = ts - 1
	}
	if _, err := j.segs[j.cur].WriteAt(rec, j.off); err != nil {
		return fmt.Errorf("journal: write: %w", err)
	}
	j.off += int64(len(rec))
	return nil
}

// full reports whether a record of n bytes would start the other segment,
// and with it a checkpoint (see stage).
func (j *journal) full(n int) bool { return j.off+int64(n) > j.size }

// syncStaged makes the staged records durable.
func (j *journal) syncStaged() error {
	if err := j.dataSync(j.segs[j.cur]); err != nil {
		return fmt.Errorf("journal: sync: %w", err)
	}
	return nil
}

// start begins a new segment after recovery, when everything BadgerDB
// holds, up to ts, is durable.
func (j *journal) start(ts uint64) error {
	if err := j.checkpoint(); err != nil {
		return err
	}
	j.cur, j.off = 1-j.cur, 0
	marker := newRecord(ts, 0)
	if err := j.append(marker.seal()); err != nil {
		return err
	}
	j.durable = ts
	return nil
}

func (j *journal) append(b []byte) error {
	f := j.segs[j.cur]
	if _, err := f.WriteAt(b, j.off); err != nil {
		return fmt.Errorf("journal: write: %w", err)
	}
	if err := j.dataSync(f); err != nil {
		return fmt.Errorf("journal: sync: %w", err)
	}
	j.off += int64(len(b))
	return nil
}

// checkpoint makes everything committed to BadgerDB durable there: Sync
// covers the current memtable's log and the value log; the logs of
// memtables waiting to be flushed need a sync of their own. A log removed
// meanwhile was flushed into a table file, which BadgerDB syncs.
func (j *journal) checkpoint() error {
	if err := j.sync(); err != nil {
		return fmt.Errorf("journal: checkpoint: %w", err)
	}
	var logs []string
	for _, dir := range j.logDirs {
		l, err := filepath.Glob(filepath.Join(dir, "*.mem"))
		if err != nil {
			return fmt.Errorf("journal: checkpoint: %w", err)
		}
		logs = append(logs, l...)
	}
	for _, name := range logs {
		f, err := os.Open(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("journal: checkpoint: %w", err)
		}
		err = j.dataSync(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("journal: checkpoint: sync %s: %w", name, err)
		}
	}
	return nil
}

// replay applies to db the records after the newest marker, in order. It
// leaves the segment with that marker current and returns the newest
// timestamp it applied, or 0 if none.
func (j *journal) replay(db *parts, lim limits) (uint64, error) {
	var markers [2]uint64
	var ok [2]bool
	for i, f := range j.segs {
		rd, limit := j.segment(f)
		err := readRecords(rd, limit, func(r journalRecord) error {
			if len(r.writes) == 0 {
				markers[i], ok[i] = r.ts, true
			}
			return errStop
		})
		if err != nil && !errors.Is(err, errStop) {
			return 0, err
		}
	}
	switch {
	case ok[0] && (!ok[1] || markers[0] >= markers[1]):
		j.cur = 0
	case ok[1]:
		j.cur = 1
	default:
		// A new journal; start then writes segment 0.
		j.cur = 1
		return 0, nil
	}
	var last uint64
	first := true
	rd, limit := j.segment(j.segs[j.cur])
	err := readRecords(rd, limit, func(r journalRecord) error {
		if first { // the marker
			first = false
			return nil
		}
		if err := applyRecord(db, lim, r.ts, r.writes); err != nil {
			return fmt.Errorf("journal: replay the group at %d: %w", r.ts, err)
		}
		last = r.ts
		return nil
	})
	return last, err
}

// errStop ends readRecords early.
var errStop = errors.New("stop")

// segment returns a reader of f's records, which are at most a segment long.
// A segment may have grown past the preallocated size to hold one large
// record.
func (j *journal) segment(f *os.File) (io.Reader, int64) {
	size := j.size
	if fi, err := f.Stat(); err == nil {
		size = max(size, fi.Size())
	}
	return bufio.NewReaderSize(io.NewSectionReader(f, 0, size), 64<<10), size
}

// journalRecord is one parsed record.
type journalRecord struct {
	ts     uint64
	writes []byte
}

// readRecords calls fn with each record at the start of r, up to the first
// one that is torn, zero, longer than limit or not newer than the one
// before. The record's bytes are valid only during the call.
func readRecords(r io.Reader, limit int64, fn func(journalRecord) error) error {
	var header [journalHeader]byte
	var body []byte
	var last uint64
	for n := 0; ; n++ {
		if _, err := io.ReadFull(r, header[:]); err != nil {
			return nil // the end of the segment
		}
		size := binary.LittleEndian.Uint32(header[0:])
		ts := binary.LittleEndian.Uint64(header[8:])
		if (n > 0 && ts <= last) || int64(size) > limit {
			return nil
		}
		body = slices.Grow(body[:0], int(size))[:size]
		if _, err := io.ReadFull(r, body); err != nil {
			return nil // cut short
		}
		crc := crc32.Update(crc32.Checksum(header[0:4], castagnoli), castagnoli, header[8:])
		if crc32.Update(crc, castagnoli, body) != binary.LittleEndian.Uint32(header[4:]) {
			return nil
		}
		if err := fn(journalRecord{ts, body}); err != nil {
			return err
		}
		last = ts
	}
}

// applyRecord commits one record's writes to the databases that hold
// their keys, at ts, in transactions that fit lim.
func applyRecord(db *parts, lim limits, ts uint64, writes []byte) error {
	c := newChunkedTxns(db, lim, ts-1, ts)
	defer c.txns.discard()
	next := func() ([]byte, bool) {
		n, k := binary.Uvarint(writes)
		if k <= 0 || n > uint64(len(writes)-k) {
			return nil, false
		}
		b := writes[k : k+int(n)]
		writes = writes[k+int(n):]
		return b, true
	}
	for len(writes) > 0 {
		kind := writes[0]
		writes = writes[1:]
		key, ok := next()
		if !ok {
			return errors.New("malformed key")
		}
		var e entry
		switch kind {
		case recordSet:
			value, ok := next()
			if !ok {
				return errors.New("malformed value")
			}
			e.value = value
		case recordDelete:
			e.del = true
		default:
			return fmt.Errorf("unknown write kind %d", kind)
		}
		if err := c.write(key, e); err != nil {
			return err
		}
	}
	return c.commit()
}
