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

// aggGroup is the state of one group in one window. Open groups form a
// list in the order they opened (oldest first), which evict takes from.
type aggGroup struct {
	key        string // the group_by values' JSON, NUL-separated
	w          *aggWindow
	n          int64 // records
	fs         []aggField
	other      bool
	gone       bool // emitted early (evict, count windows)
	prev, next *aggGroup
}

// aggField is what a group keeps of one field.
type aggField struct {
	present       int64 // non-null values
	n             int64 // numeric values
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

// newGroup opens a group in w and appends it to the list of open groups.
func (a *Aggregate) newGroup(w *aggWindow, key string, other bool) *aggGroup {
	g := &aggGroup{key: key, w: w, other: other}
	if len(a.fields) > 0 {
		g.fs = make([]aggField, len(a.fields))
	}
	a.open++
	g.prev = a.newest
	if a.newest != nil {
		a.newest.next = g
	} else {
		a.oldest = g
	}
	a.newest = g
	return g
}

// unlink takes g off the list of open groups.
func (a *Aggregate) unlink(g *aggGroup) {
	if g.prev != nil {
		g.prev.next = g.next
	} else if a.oldest == g {
		a.oldest = g.next
	}
	if g.next != nil {
		g.next.prev = g.prev
	} else if a.newest == g {
		a.newest = g.prev
	}
	g.prev, g.next = nil, nil
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
		g.gone = true
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
