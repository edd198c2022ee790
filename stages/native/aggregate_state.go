package native

import (
	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
	"github.com/DataDog/sketches-go/ddsketch/store"
)

// aggWindow is one open window: its groups in the order they opened.
type aggWindow struct {
	start, end int64 // ns; 0, 0 outside time windows
	groups     map[string]*aggGroup
	order      []*aggGroup
	other      *aggGroup // on_max_groups: other
	evicted    bool      // a group of it was emitted early: results are partial
}

// aggGroup is the state of one group in one window.
type aggGroup struct {
	key   string // the group_by values' JSON, NUL-separated
	w     *aggWindow
	n     int64 // records
	fs    []aggField
	other bool
	gone  bool  // emitted: no longer open
	first int64 // Aggregate.consumed when it opened: its oldest record
}

// aggField is what a group keeps of one field.
type aggField struct {
	present       int64 // non-null values (all numbers, for a numeric field)
	sum, min, max float64
	sk            *ddsketch.DDSketch
	distinct      map[uint64]struct{}
}

// sketch returns f's sketch, made on first use. The buffered paginated
// store keeps a group with few values small.
func (f *aggField) sketch(m mapping.IndexMapping) *ddsketch.DDSketch {
	if f.sk == nil {
		f.sk = ddsketch.NewDDSketchFromStoreProvider(m, store.BufferedPaginatedStoreConstructor)
	}
	return f.sk
}

// newGroup opens a group in w. It joins the queue of groups in the order
// they opened: the oldest is evicted first (evict), and its first record is
// the oldest the stage holds (Retained).
func (a *Aggregate) newGroup(w *aggWindow, key string, other bool) *aggGroup {
	g := &aggGroup{key: key, w: w, other: other, first: a.consumed}
	if len(a.fields) > 0 {
		g.fs = make([]aggField, len(a.fields))
	}
	a.open++
	if a.head > 1024 && a.head > len(a.fifo)/2 {
		n := copy(a.fifo, a.fifo[a.head:])
		clear(a.fifo[n:])
		a.fifo, a.head = a.fifo[:n], 0
	}
	if len(a.fifo)-a.head > 2*a.open+1024 { // mostly groups already gone
		a.fifo = compactGroups(a.fifo[a.head:])
		a.head = 0
	}
	a.fifo = append(a.fifo, g)
	return g
}

// oldest returns the group open longest, or nil.
func (a *Aggregate) oldest() *aggGroup {
	for a.head < len(a.fifo) {
		g := a.fifo[a.head]
		if !g.gone {
			return g
		}
		a.fifo[a.head] = nil
		a.head++
	}
	return nil
}

// unlink marks g emitted: it is no longer open.
func (a *Aggregate) unlink(g *aggGroup) {
	g.gone = true
	a.open--
}

// removeGroup forgets a group emitted before its window closed; a window
// left empty outside time windows is forgotten too.
func (a *Aggregate) removeGroup(g *aggGroup) {
	a.unlink(g)
	w := g.w
	if g.other {
		w.other = nil
	} else {
		delete(w.groups, g.key)
		if len(w.order) > 64 && len(w.groups) < len(w.order)/2 {
			w.order = compactGroups(w.order)
		}
	}
	if len(w.groups) == 0 && w.other == nil {
		w.order = nil
		if a.mode != modeTime {
			delete(a.windows, w.start)
			a.starts = a.starts[:0]
		}
	}
}

// compactGroups drops the groups that are gone, keeping the order.
func compactGroups(gs []*aggGroup) []*aggGroup {
	out := gs[:0]
	for _, g := range gs {
		if !g.gone {
			out = append(out, g)
		}
	}
	clear(gs[len(out):])
	return out
}
