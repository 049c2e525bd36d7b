package store

import "unsafe"

// arena packs the index's strings and string lists into large blocks. An
// index of 100,000 people otherwise holds half a million small objects
// scattered over the heap among the garbage of the import that made
// them: every collection walks them all, and the half-empty spans they
// pin count as orgdav's memory. Packed, the collector marks a few hundred
// blocks, and while phones download, it runs less and finishes sooner.
//
// Blocks are written once: a string handed out never changes.
type arena struct {
	b      []byte
	s      []string
	shared map[string]string // values many items share (departments, groups)
}

// newArena makes an arena of the room pack measured: one block each, so
// packing the one item an incremental run changed costs its own bytes.
func newArena(bytes, strs int) *arena {
	return &arena{b: make([]byte, 0, bytes), s: make([]string, 0, strs)}
}

func (a *arena) str(s string) string {
	if s == "" {
		return ""
	}
	if len(a.b)+len(s) > cap(a.b) {
		a.b = make([]byte, 0, max(64<<10, len(s)))
	}
	start := len(a.b)
	a.b = append(a.b, s...)
	return unsafe.String(&a.b[start], len(s))
}

func (a *arena) share(s string) string {
	if v, ok := a.shared[s]; ok {
		return v
	}
	if a.shared == nil {
		a.shared = map[string]string{}
	}
	v := a.str(s)
	a.shared[v] = v
	return v
}

// list copies a list of strings, each packed or shared; the result has
// no spare capacity, so appending to it never writes over a neighbour.
func (a *arena) list(ss []string, share bool) []string {
	if len(ss) == 0 {
		return nil
	}
	if len(a.s)+len(ss) > cap(a.s) {
		a.s = make([]string, 0, max(4096, len(ss)))
	}
	start := len(a.s)
	for _, s := range ss {
		if share {
			s = a.share(s)
		} else {
			s = a.str(s)
		}
		a.s = append(a.s, s)
	}
	return a.s[start:len(a.s):len(a.s)]
}

// pack moves the items' strings into one arena.
func pack(items []Item) {
	bytes, strs := 0, 0
	seen := map[string]bool{}
	for i := range items {
		it := &items[i]
		bytes += len(it.Name) + len(it.Key) + len(it.Tag) + len(it.Username) + len(it.Dup)
		for _, s := range append([]string{it.Dept, it.List}, it.Groups...) {
			if !seen[s] {
				seen[s] = true
				bytes += len(s)
			}
		}
		for _, e := range it.Emails {
			bytes += len(e)
		}
		strs += len(it.Groups) + len(it.Emails)
	}
	a := newArena(bytes, strs)
	for i := range items {
		it := &items[i]
		it.Name, it.Key, it.Tag, it.Username = a.str(it.Name), a.str(it.Key), a.str(it.Tag), a.str(it.Username)
		it.Dept, it.List, it.Dup = a.share(it.Dept), a.share(it.List), a.str(it.Dup)
		it.Groups, it.Emails = a.list(it.Groups, true), a.list(it.Emails, false)
	}
}

// PackIndex packs the index's strings into arenas. serve calls it after
// each full run once the run's garbage is collected, so the copies never
// add to a run's peak; an index read at start is packed as it is read.
func (s *Store) PackIndex() {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.idx.Load()
	if old.packed {
		return
	}
	items := append([]Item(nil), old.Items...)
	pack(items)
	ix := withHiddenOf(old, finishIndex(items, old.Rev, old.Horizon))
	ix.packed = true
	s.idx.Store(ix)
}
