package store

import (
	"slices"
	"strings"
)

// listCards is one shared list's cards in an index: immutable once there,
// replaced whole when the list changes, so a list's write costs the list's
// size and never the directory's or the other lists'.
type listCards struct {
	group    *Item            // the list's contact group card
	contacts []Item           // sorted by name
	byName   map[string]int32 // contacts
	byEmail  map[string][]int32
	refs     map[string][]int32 // contacts by the directory person they refer to
}

func (lc *listCards) lookup(name string) (*Item, bool) {
	if lc == nil {
		return nil, false
	}
	if len(name) == ListIDLen {
		return lc.group, lc.group != nil
	}
	i, ok := lc.byName[name]
	if !ok {
		return nil, false
	}
	return &lc.contacts[i], true
}

// list returns the contacts; nil for a list without cards.
func (lc *listCards) list() []Item {
	if lc == nil {
		return nil
	}
	return lc.contacts
}

func newListCards(group *Item, contacts []Item) *listCards {
	lc := &listCards{group: group, contacts: contacts, byName: make(map[string]int32, len(contacts)),
		byEmail: map[string][]int32{}, refs: map[string][]int32{}}
	for i := range contacts {
		it := &contacts[i]
		lc.byName[it.Name] = int32(i)
		for _, e := range it.Emails {
			lc.byEmail[e] = append(lc.byEmail[e], int32(i))
		}
		if it.Ref {
			lc.refs[it.Dup] = append(lc.refs[it.Dup], int32(i))
		}
	}
	return lc
}

// patchCards derives the lists' cards from old and a write's changes; the
// lists the write did not touch are shared with old.
func patchCards(old map[string]*listCards, contacts int, upserts []Item, removed map[string]bool) (map[string]*listCards, int) {
	touched := map[string][]Item{}
	for _, u := range upserts {
		touched[u.List] = append(touched[u.List], u)
	}
	for name := range removed {
		if id, ok := ListOf(name); ok {
			if _, seen := touched[id]; !seen {
				touched[id] = nil
			}
		}
	}
	out := make(map[string]*listCards, len(old)+len(touched))
	for id, lc := range old {
		out[id] = lc
	}
	for id, ups := range touched {
		cur := old[id]
		group := cur.groupOrNil()
		if removed[id] {
			group = nil
		}
		slices.SortFunc(ups, func(a, b Item) int { return strings.Compare(a.Name, b.Name) })
		next := make([]Item, 0, len(cur.list())+len(ups))
		j := 0
		add := func(it Item) {
			if it.Kind == KindListGroup {
				g := it
				group = &g
				return
			}
			next = append(next, it)
		}
		for _, it := range cur.list() {
			for j < len(ups) && ups[j].Name < it.Name {
				add(ups[j])
				j++
			}
			switch {
			case j < len(ups) && ups[j].Name == it.Name:
				add(ups[j])
				j++
			case !removed[it.Name]:
				next = append(next, it)
			}
		}
		for ; j < len(ups); j++ {
			add(ups[j])
		}
		contacts += len(next) - len(cur.list())
		if group == nil && len(next) == 0 {
			delete(out, id)
			continue
		}
		out[id] = newListCards(group, next)
	}
	return out, contacts
}

func (lc *listCards) groupOrNil() *Item {
	if lc == nil {
		return nil
	}
	return lc.group
}

// ListCards returns a list's contacts, sorted by card name; callers must
// not change them.
func (ix *Index) ListCards(id string) []Item { return ix.cards[id].list() }

// ListGroupCard returns a list's contact group card.
func (ix *Index) ListGroupCard(id string) (*Item, bool) {
	g := ix.cards[id].groupOrNil()
	return g, g != nil
}
