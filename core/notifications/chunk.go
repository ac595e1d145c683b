package notifications

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
)

// Unread chunks and list chunks share one compact binary encoding:
//
//	<records: uvarint> <strings: uvarint> (<len: uvarint> <bytes>)* <record>*
//
// The string table holds the strings that repeat across records (room IDs,
// threads, actions JSON), each once; records name them by index. The
// record count comes first so that pruning can read it without decoding
// the rest.
//
// An unread record is <pos: uvarint> <highlight: 1 byte> <thread: index>.
// A list record is <pos: uvarint> <room: index> <event ID: uvarint length,
// bytes> <actions: index> <ts: varint> <highlight: 1 byte> <thread: index>.

// unreadEntry is one notification the user has not read.
type unreadEntry struct {
	pos       uint64
	thread    string
	highlight bool
}

// listEntry is one entry of a user's notification list.
type listEntry struct {
	pos       uint64
	roomID    string
	eventID   string
	actions   string // JSON
	ts        int64
	highlight bool
	thread    string
}

// chunkEncoder builds one chunk: a string table and the records.
type chunkEncoder struct {
	strs    []string
	index   map[string]int // once strs is long
	records int
	body    []byte
}

// scanStrings is how long the string table gets before str indexes it:
// tables are mostly tiny (a batch's rooms, threads and actions), and a
// scan of those beats a map.
const scanStrings = 16

// str appends a reference to s, adding it to the table if new.
func (e *chunkEncoder) str(s string) {
	i, ok := -1, false
	if e.index != nil {
		i, ok = e.index[s]
	} else if i = slices.Index(e.strs, s); i >= 0 {
		ok = true
	}
	if !ok {
		i = len(e.strs)
		e.strs = append(e.strs, s)
		if e.index != nil {
			e.index[s] = i
		} else if len(e.strs) > scanStrings {
			e.index = make(map[string]int, 2*len(e.strs))
			for j, t := range e.strs {
				e.index[t] = j
			}
		}
	}
	e.body = binary.AppendUvarint(e.body, uint64(i))
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// bytes returns the encoded chunk.
func (e *chunkEncoder) bytes() []byte {
	n := 2*binary.MaxVarintLen64 + len(e.body)
	for _, s := range e.strs {
		n += binary.MaxVarintLen64 + len(s)
	}
	out := binary.AppendUvarint(make([]byte, 0, n), uint64(e.records))
	out = binary.AppendUvarint(out, uint64(len(e.strs)))
	for _, s := range e.strs {
		out = binary.AppendUvarint(out, uint64(len(s)))
		out = append(out, s...)
	}
	return append(out, e.body...)
}

func encodeUnreadChunk(entries []unreadEntry) []byte {
	var e chunkEncoder
	for _, u := range entries {
		e.body = binary.AppendUvarint(e.body, u.pos)
		e.body = appendBool(e.body, u.highlight)
		e.str(u.thread)
		e.records++
	}
	return e.bytes()
}

func encodeListChunk(entries []listEntry) []byte {
	var e chunkEncoder
	for _, l := range entries {
		e.body = binary.AppendUvarint(e.body, l.pos)
		e.str(l.roomID)
		e.body = binary.AppendUvarint(e.body, uint64(len(l.eventID)))
		e.body = append(e.body, l.eventID...)
		e.str(l.actions)
		e.body = binary.AppendVarint(e.body, l.ts)
		e.body = appendBool(e.body, l.highlight)
		e.str(l.thread)
		e.records++
	}
	return e.bytes()
}

// chunkDecoder reads one chunk. The first malformed read sets err, which
// wraps errCorrupt, and every later read returns zero values.
type chunkDecoder struct {
	b    []byte
	strs []string
	err  error
}

func (d *chunkDecoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: chunk: bad %s", errCorrupt, what)
	}
	d.b = nil
}

func (d *chunkDecoder) uvarint(what string) uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *chunkDecoder) varint(what string) int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *chunkDecoder) bool(what string) bool {
	if len(d.b) == 0 || d.b[0] > 1 {
		d.fail(what)
		return false
	}
	v := d.b[0] == 1
	d.b = d.b[1:]
	return v
}

func (d *chunkDecoder) bytes(what string) string {
	n := d.uvarint(what)
	if n > uint64(len(d.b)) {
		d.fail(what)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *chunkDecoder) ref(what string) string {
	i := d.uvarint(what)
	if i >= uint64(len(d.strs)) {
		d.fail(what)
		return ""
	}
	return d.strs[i]
}

// header reads the record count and the string table. minRecord is the
// fewest bytes a record takes, which bounds the count.
func (d *chunkDecoder) header(minRecord int) int {
	records := d.uvarint("record count")
	strs := d.uvarint("string count")
	// Every string takes at least one byte and every record minRecord:
	// larger counts are corrupt, not allocations to make.
	if d.err != nil || strs > uint64(len(d.b)) || records > uint64(len(d.b)/minRecord) {
		d.fail("counts")
		return 0
	}
	d.strs = make([]string, 0, strs)
	for range strs {
		d.strs = append(d.strs, d.bytes("string"))
	}
	return int(records)
}

// end checks that the whole chunk was read.
func (d *chunkDecoder) end() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("length")
	}
	return d.err
}

// chunkRecords returns the record count of a chunk, without decoding it.
func chunkRecords(raw []byte) (uint64, error) {
	n, k := binary.Uvarint(raw)
	if k <= 0 {
		return 0, fmt.Errorf("%w: chunk: bad record count", errCorrupt)
	}
	return n, nil
}

func decodeUnreadChunk(raw []byte) ([]unreadEntry, error) {
	d := chunkDecoder{b: raw}
	n := d.header(3)
	out := make([]unreadEntry, 0, n)
	for range n {
		var u unreadEntry
		u.pos = d.uvarint("pos")
		u.highlight = d.bool("highlight")
		u.thread = d.ref("thread")
		out = append(out, u)
	}
	return out, d.end()
}

func decodeListChunk(raw []byte) ([]listEntry, error) {
	d := chunkDecoder{b: raw}
	n := d.header(7)
	out := make([]listEntry, 0, n)
	for range n {
		var l listEntry
		l.pos = d.uvarint("pos")
		l.roomID = d.ref("room")
		l.eventID = d.bytes("event ID")
		l.actions = d.ref("actions")
		l.ts = d.varint("ts")
		l.highlight = d.bool("highlight")
		l.thread = d.ref("thread")
		out = append(out, l)
	}
	return out, d.end()
}

// posRange returns the smallest and largest positions of entries, which
// must not be empty.
func posRange[E any](entries []E, pos func(E) uint64) (lo, hi uint64) {
	lo, hi = pos(entries[0]), pos(entries[0])
	for _, e := range entries[1:] {
		lo, hi = min(lo, pos(e)), max(hi, pos(e))
	}
	return lo, hi
}

// sortUnread orders entries by position.
func sortUnread(entries []unreadEntry) {
	slices.SortFunc(entries, func(a, b unreadEntry) int {
		return cmp.Compare(a.pos, b.pos)
	})
}
