package engine

import "sync"

// queueDepth is how many batches wait between two stages. Two keep a
// stage busy while its neighbour works on the next batch; each more batch
// in a queue is up to DefaultBatchBytes of arena and 56 KiB of records
// resident, twice over at the GC's goal (4 took about 1.2 MB more peak RSS
// on W1 and W3 with two workers, bench/NOTES.md).
const queueDepth = 2

// outputQueueDepth is the queue of a routed output (fan-out): a copy under
// policy drop or dead_letter is refused when it is full (documented as 4
// batches).
const outputQueueDepth = 4

// batch is the unit that moves between stages. Input records live in store
// and their bytes in arena, both reused once the batch is written.
type batch struct {
	recs  []*Record
	spare []*Record
	store []Record
	arena []byte
	// out is the output arena lent to stages (OutputArena): the bytes of
	// records they emitted. A written batch gives it back to outArenas,
	// not to the batch pool (see putOutArena).
	out   []byte
	final bool // a worker's flush output: the last batch it sends
	last  bool // a failing worker's partial output: nothing follows
	// json: every record is known to be one JSON value on one line (the
	// ndjson input checked it, or stages vouched for it: JSONOutput), so
	// an ndjson output need not check it again. false: unknown.
	json bool
	// ack is the input batch's acknowledgement, settled by the output
	// (zero: untracked, as for stdin and flush output).
	ack ackToken
}

var batchPool = sync.Pool{New: func() any {
	return &batch{recs: make([]*Record, 0, DefaultBatchRecords), store: make([]Record, 0, DefaultBatchRecords),
		arena: make([]byte, 0, DefaultBatchBytes+DefaultBatchBytes/4)}
}}

func getBatch() *batch { return batchPool.Get().(*batch) }

func putBatch(b *batch) {
	if cap(b.arena) > 4*DefaultBatchBytes || cap(b.store) > 4*DefaultBatchRecords {
		return // do not keep oversized batches
	}
	clear(b.recs)
	clear(b.spare)
	// b.store is not cleared as a whole: add overwrites every field of a
	// record it reuses, and clearing 48 KiB per batch cost W0 40% of its
	// time. But the records it used let go of their bytes and metadata: a
	// stage that replaced a record's Data (a script's output) would
	// otherwise keep it alive while the batch waits in the pool, until add
	// reuses the slot (W2 js, 2 workers: 0.7-1 MB of outputs live at each
	// GC, twice that at its goal).
	for i := range b.store {
		b.store[i].Data, b.store[i].Meta = nil, nil
	}
	putOutArena(b.out)
	b.recs, b.spare, b.store, b.arena, b.out, b.final, b.last, b.json, b.ack = b.recs[:0], b.spare[:0], b.store[:0], b.arena[:0], nil, false, false, false, ackToken{}
	batchPool.Put(b)
}

// add appends a record whose bytes are copied into the arena.
// The arena keeps a newline after each record, so that the output can
// write runs of untouched records with one write (see writerSink).
func (b *batch) add(data []byte, num int64) {
	start := len(b.arena)
	b.arena = append(b.arena, data...)
	end := len(b.arena)
	b.arena = append(b.arena, '\n')
	// Fields are set in place: appending a Record literal costs a
	// typedmemmove per record (the struct holds pointers).
	if len(b.store) < cap(b.store) {
		b.store = b.store[:len(b.store)+1]
	} else {
		b.store = append(b.store, Record{})
	}
	r := &b.store[len(b.store)-1]
	r.Data = b.arena[start:end:end]
	r.SetNumber(num)
	if r.Meta != nil {
		r.Meta = nil
	}
	// store may have grown: re-point recs at it.
	if &b.store[0] != firstPtr(b.recs) {
		b.recs = b.recs[:0]
		for i := range b.store[:len(b.store)-1] {
			b.recs = append(b.recs, &b.store[i])
		}
	}
	b.recs = append(b.recs, &b.store[len(b.store)-1])
}

// addRef appends a record whose bytes are b.arena[start:end] (no copy).
func (b *batch) addRef(start, end int, num int64) {
	if len(b.store) < cap(b.store) {
		b.store = b.store[:len(b.store)+1]
	} else {
		b.store = append(b.store, Record{})
		b.recs = b.recs[:0]
		for i := range b.store[:len(b.store)-1] {
			b.recs = append(b.recs, &b.store[i])
		}
	}
	r := &b.store[len(b.store)-1]
	r.Data = b.arena[start:end:end]
	r.SetNumber(num)
	if r.Meta != nil {
		r.Meta = nil
	}
	b.recs = append(b.recs, r)
}

// addLines appends the records of the arena's lines ending at ends (the
// index of each one's newline), the first starting at from and each next
// one after the newline of the one before, numbered from num+1 on; it
// returns the last number. It is addRef for a whole read of lines.
func (b *batch) addLines(from int, ends []int, num int64) int64 {
	n := len(b.store)
	if n+len(ends) > cap(b.store) {
		for _, e := range ends {
			num++
			b.addRef(from, e, num)
			from = e + 1
		}
		return num
	}
	b.store = b.store[:n+len(ends)]
	store := b.store[n:]
	for i, e := range ends {
		r := &store[i]
		r.Data = b.arena[from:e:e]
		num++
		r.SetNumber(num)
		if r.Meta != nil {
			r.Meta = nil
		}
		b.recs = append(b.recs, r)
		from = e + 1
	}
	return num
}

func firstPtr(r []*Record) *Record {
	if len(r) == 0 {
		return nil
	}
	return r[0]
}

// fits reports whether n more bytes fit the batch without growing it.
func (b *batch) full(n int) bool {
	return len(b.store) >= DefaultBatchRecords || (len(b.arena) > 0 && len(b.arena)+n > DefaultBatchBytes)
}
