package directory

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// Delta is what changed in a source since its previous read when the
// consequences can be derived without the whole snapshot: people's own
// attributes changed, people joined who are in no group, people left. No
// group, DN or login name changed. A source reports anything else as a
// whole snapshot.
type Delta struct {
	Source string
	// Changed holds each edited person before and after, and each person
	// who joined (Old is zero), as a Snapshot holds them (ManagerID
	// resolved). People whose manager joined or left are among them.
	Changed []PersonChange
	// Removed holds the people who left, as last read.
	Removed []Person
}

// PersonChange is one person before and after a change, as a Snapshot
// holds them (ManagerID resolved).
type PersonChange struct {
	Old, New Person
}

// Change is what a Delta alters in a published source: the entries to
// write (the changed and new people and those whose derived facts moved
// with them: managers gaining or losing their last report, reports of a
// renamed or departed manager), the people who left, and the groups that
// gained or lost members.
type Change struct {
	Source        string
	People        []Entry
	RemovedPeople []string // keys
	Groups        []GroupEntry
	RemovedGroups []string // keys of groups left empty
	Skipped       []Skip
}

// ErrNeedsFull is returned by Patch for a delta whose consequences reach
// beyond what it derives alone (someone becomes hidden, disabled or
// unpublishable, or changes to or from a hidden manager); the caller
// normalises the whole snapshot instead.
var ErrNeedsFull = errors.New("directory: the change needs a full normalisation")

// pubIndex holds the look-ups Patch needs, built on first use.
type pubIndex struct {
	byID    map[string]int32    // person ID -> index in People
	reports map[string][]string // manager ID -> IDs of their published reports
	groups  map[string]int32    // group key -> index in Groups
	hidden  map[string]bool     // IDs of hidden people who may log in
}

func (pub *Published) index() *pubIndex {
	if pub.ix != nil {
		return pub.ix
	}
	ix := &pubIndex{byID: make(map[string]int32, len(pub.People)), reports: map[string][]string{}, hidden: map[string]bool{}}
	for i := range pub.People {
		e := &pub.People[i]
		ix.byID[e.ID] = int32(i)
		if e.ManagerKey != "" {
			ix.reports[e.ManagerID] = append(ix.reports[e.ManagerID], e.ID)
		}
	}
	for i := range pub.Hidden {
		ix.hidden[pub.Hidden[i].ID] = true
	}
	ix.indexGroups(pub.Groups)
	pub.ix = ix
	return ix
}

func (ix *pubIndex) indexGroups(groups []GroupEntry) {
	ix.groups = make(map[string]int32, len(groups))
	for i := range groups {
		ix.groups[groups[i].Key] = int32(i)
	}
}

// Patch derives what d changes in pub, which must be the normalisation of
// the source's snapshot just before d; pub is left as it is until Commit.
// Its result equals normalising the whole new snapshot, for the entries it
// touches, at a cost that follows the size of the delta.
func (pub *Published) Patch(d *Delta) (*Change, error) {
	if d.Source != pub.Source {
		return nil, fmt.Errorf("directory: delta of source %q applied to %q", d.Source, pub.Source)
	}
	ix := pub.index()
	ch := &Change{Source: pub.Source}
	gone := map[string]bool{}
	for _, p := range d.Removed {
		id := strings.TrimSpace(p.ID)
		if _, published := ix.byID[id]; published {
			if ix.hidden[strings.TrimSpace(p.ManagerID)] {
				return nil, ErrNeedsFull // a hidden manager may lose their last report
			}
			gone[id] = true
		} else if ix.hidden[id] {
			return nil, ErrNeedsFull
		}
	}
	next := make(map[string]*Entry, len(d.Changed))
	order := make([]string, 0, len(d.Changed))
	oldManager := make(map[string]string, len(d.Changed))
	for _, c := range d.Changed {
		p := c.New
		p.ID = strings.TrimSpace(p.ID)
		oldID := strings.TrimSpace(c.Old.ID)
		i, published := ix.byID[p.ID]
		join := oldID == ""
		if p.ID == "" || next[p.ID] != nil || gone[p.ID] || ix.hidden[p.ID] || p.Hidden || p.Disabled ||
			join == published || (!join && oldID != p.ID) {
			return nil, ErrNeedsFull
		}
		if !cleanPerson(&p, func(format string, a ...any) {
			ch.Skipped = append(ch.Skipped, Skip{ID: p.ID, Reason: fmt.Sprintf(format, a...)})
		}) {
			return nil, ErrNeedsFull
		}
		e := &Entry{Key: PersonKey(pub.Source, p.ID), Person: p}
		if published {
			prev := &pub.People[i]
			e.Groups, e.IsManager = prev.Groups, prev.IsManager
		}
		next[p.ID] = e
		order = append(order, p.ID)
		oldManager[p.ID] = strings.TrimSpace(c.Old.ManagerID)
	}
	current := func(id string) *Entry {
		if gone[id] {
			return nil
		}
		if e := next[id]; e != nil {
			return e
		}
		if i, ok := ix.byID[id]; ok {
			return &pub.People[i]
		}
		return nil
	}
	// Entries outside the delta whose derived facts change are copied
	// before they are edited: pub stays as it was until Commit.
	touched := map[string]*Entry{}
	edit := func(id string) *Entry {
		if e := next[id]; e != nil {
			return e
		}
		if e := touched[id]; e != nil {
			return e
		}
		e := pub.People[ix.byID[id]]
		touched[id] = &e
		return &e
	}

	involved := map[string]bool{} // managers who may gain or lose reports
	for _, id := range order {
		e := next[id]
		if from, to := oldManager[id], e.ManagerID; from != to {
			for _, m := range []string{from, to} {
				if ix.hidden[m] {
					return nil, ErrNeedsFull
				}
				if m != id && current(m) != nil {
					involved[m] = true
				}
			}
		}
		if m := current(e.ManagerID); m != nil && e.ManagerID != id {
			e.ManagerKey, e.ManagerName = m.Key, m.DisplayName
		} else {
			e.ManagerID = ""
		}
	}
	for id := range gone {
		if m := pub.People[ix.byID[id]].ManagerID; m != "" && current(m) != nil {
			involved[m] = true
		}
		// Reports of someone who left have no manager any more.
		for _, r := range ix.reports[id] {
			if next[r] == nil && !gone[r] {
				e := edit(r)
				e.ManagerID, e.ManagerKey, e.ManagerName = "", "", ""
			}
		}
	}
	for m := range involved {
		reports := 0
		for _, r := range ix.reports[m] {
			if next[r] == nil && !gone[r] {
				reports++
			}
		}
		for _, id := range order {
			if next[id].ManagerID == m {
				reports++
			}
		}
		if is := reports > 0; current(m).IsManager != is {
			edit(m).IsManager = is
		}
	}
	for _, id := range order {
		i, published := ix.byID[id]
		if !published || next[id].DisplayName == pub.People[i].DisplayName {
			continue
		}
		for _, r := range ix.reports[id] {
			if next[r] == nil && !gone[r] {
				edit(r).ManagerName = next[id].DisplayName
			}
		}
	}

	groups := map[string]*GroupEntry{} // working copies by key
	group := func(key, name string, kind GroupKind) *GroupEntry {
		if g := groups[key]; g != nil {
			return g
		}
		g := &GroupEntry{Key: key, Name: name, Kind: kind}
		if i, ok := ix.groups[key]; ok {
			*g = pub.Groups[i]
			g.Members = slices.Clone(g.Members)
		}
		groups[key] = g
		return g
	}
	remove := func(g *GroupEntry, key string) {
		if i, ok := slices.BinarySearch(g.Members, key); ok {
			g.Members = slices.Delete(g.Members, i, i+1)
		}
		if len(g.Members) == 0 {
			g.Members = nil // as normalising finds no member
		}
	}
	add := func(g *GroupEntry, key string) {
		if i, ok := slices.BinarySearch(g.Members, key); !ok {
			g.Members = slices.Insert(g.Members, i, key)
		}
	}
	// A department's people are in its own group, or in the directory
	// group of the same name (see Published.named).
	dept := func(name string) *GroupEntry {
		if ng, ok := pub.named[foldName(name)]; ok {
			return group(ng.key, ng.name, KindGroup)
		}
		return group(DepartmentKey(pub.Source, name), name, KindDepartment)
	}
	for _, id := range order {
		e := next[id]
		prevDept := ""
		if i, published := ix.byID[id]; published {
			prevDept = pub.People[i].Department
		}
		if e.Department == prevDept {
			continue
		}
		if prevDept != "" {
			// A directory group keeps its own members.
			if g := dept(prevDept); g.Kind == KindDepartment || !slices.Contains(e.Groups, g.Key) {
				remove(g, e.Key)
			}
		}
		if e.Department != "" {
			add(dept(e.Department), e.Key)
		}
	}
	for id := range gone {
		prev := &pub.People[ix.byID[id]]
		ch.RemovedPeople = append(ch.RemovedPeople, prev.Key)
		if prev.Department != "" {
			remove(dept(prev.Department), prev.Key)
		}
		for _, key := range prev.Groups {
			if _, ok := ix.groups[key]; ok {
				remove(group(key, "", KindGroup), prev.Key)
			}
		}
	}
	sort.Strings(ch.RemovedPeople)
	for _, k := range slices.Sorted(maps.Keys(groups)) {
		g := groups[k]
		_, existed := ix.groups[k]
		switch {
		case len(g.Members) == 0:
			// Not published without members (see Normalize).
			if existed {
				ch.RemovedGroups = append(ch.RemovedGroups, k)
			}
		default:
			ch.Groups = append(ch.Groups, *g)
		}
	}

	for _, id := range order {
		ch.People = append(ch.People, *next[id])
	}
	for _, id := range slices.Sorted(maps.Keys(touched)) {
		ch.People = append(ch.People, *touched[id])
	}
	return ch, nil
}

// Commit makes pub hold what Patch derived, once the store holds it too.
func (pub *Published) Commit(ch *Change) {
	ix := pub.index()
	unreport := func(manager, id string) {
		ix.reports[manager] = slices.DeleteFunc(ix.reports[manager], func(r string) bool { return r == id })
		if len(ix.reports[manager]) == 0 {
			delete(ix.reports, manager)
		}
	}
	for _, e := range ch.People {
		i, ok := ix.byID[e.ID]
		if !ok {
			i = int32(len(pub.People))
			pub.People = append(pub.People, Entry{})
			ix.byID[e.ID] = i
		}
		if prev := pub.People[i].ManagerID; prev != e.ManagerID || !ok {
			if prev != "" {
				unreport(prev, e.ID)
			}
			if e.ManagerID != "" {
				ix.reports[e.ManagerID] = append(ix.reports[e.ManagerID], e.ID)
			}
		}
		pub.People[i] = e
	}
	prefix := PersonKey(pub.Source, "")
	for _, key := range ch.RemovedPeople {
		id := strings.TrimPrefix(key, prefix)
		i := ix.byID[id]
		if m := pub.People[i].ManagerID; m != "" {
			unreport(m, id)
		}
		last := int32(len(pub.People) - 1)
		if i != last {
			pub.People[i] = pub.People[last]
			ix.byID[pub.People[i].ID] = i
		}
		pub.People[last] = Entry{}
		pub.People = pub.People[:last]
		delete(ix.byID, id)
	}
	if len(ch.Groups) == 0 && len(ch.RemovedGroups) == 0 {
		return
	}
	reshaped := len(ch.RemovedGroups) > 0
	for _, g := range ch.Groups {
		if i, ok := ix.groups[g.Key]; ok {
			pub.Groups[i] = g
		} else {
			pub.Groups = append(pub.Groups, g)
			reshaped = true
		}
	}
	if !reshaped {
		return
	}
	pub.Groups = slices.DeleteFunc(pub.Groups, func(g GroupEntry) bool { return slices.Contains(ch.RemovedGroups, g.Key) })
	sort.Slice(pub.Groups, func(i, j int) bool { return pub.Groups[i].Key < pub.Groups[j].Key })
	ix.indexGroups(pub.Groups)
}
