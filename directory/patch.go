package directory

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Delta is what changed in a source since its previous read when only
// people's own attributes changed: nobody joined or left the source and no
// group, DN or login name changed. A source reports anything else as a
// whole snapshot.
type Delta struct {
	Source  string
	Changed []PersonChange
}

// PersonChange is one person before and after a change, as a Snapshot
// holds them (ManagerID resolved).
type PersonChange struct {
	Old, New Person
}

// Change is what a Delta alters in a published source: the entries to
// write (the changed people and those whose derived facts moved with them:
// managers gaining or losing their last report, reports of a renamed
// manager) and the department groups that gained or lost members.
type Change struct {
	Source        string
	People        []Entry
	Groups        []GroupEntry
	RemovedGroups []string // keys of department groups left empty
	Skipped       []Skip
}

// ErrNeedsFull is returned by Patch for a delta whose consequences reach
// beyond what it derives alone (someone becomes hidden, disabled or
// unpublishable, or changes to or from a hidden manager); the caller
// normalises the whole snapshot instead.
var ErrNeedsFull = errors.New("directory: the change needs a full normalisation")

// pubIndex holds the look-ups Patch needs, built on first use.
type pubIndex struct {
	byID    map[string]int32   // person ID -> index in People
	reports map[string][]int32 // manager ID -> indices of their published reports
	groups  map[string]int32   // group key -> index in Groups
	hidden  map[string]bool    // IDs of hidden people who may log in
}

func (pub *Published) index() *pubIndex {
	if pub.ix != nil {
		return pub.ix
	}
	ix := &pubIndex{byID: make(map[string]int32, len(pub.People)), reports: map[string][]int32{}, hidden: map[string]bool{}}
	for i := range pub.People {
		e := &pub.People[i]
		ix.byID[e.ID] = int32(i)
		if e.ManagerKey != "" {
			ix.reports[e.ManagerID] = append(ix.reports[e.ManagerID], int32(i))
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
	next := make(map[string]*Entry, len(d.Changed))
	order := make([]string, 0, len(d.Changed))
	oldManager := make(map[string]string, len(d.Changed))
	for _, c := range d.Changed {
		p := c.New
		p.ID = strings.TrimSpace(p.ID)
		i, published := ix.byID[p.ID]
		if !published || next[p.ID] != nil || p.Hidden || p.Disabled || strings.TrimSpace(c.Old.ID) != p.ID {
			return nil, ErrNeedsFull
		}
		if !cleanPerson(&p, func(format string, a ...any) {
			ch.Skipped = append(ch.Skipped, Skip{ID: p.ID, Reason: fmt.Sprintf(format, a...)})
		}) {
			return nil, ErrNeedsFull
		}
		prev := &pub.People[i]
		next[p.ID] = &Entry{Key: prev.Key, Person: p, Groups: prev.Groups, IsManager: prev.IsManager}
		order = append(order, p.ID)
		oldManager[p.ID] = strings.TrimSpace(c.Old.ManagerID)
	}
	current := func(id string) *Entry {
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
	for m := range involved {
		reports := 0
		for _, r := range ix.reports[m] {
			if next[pub.People[r].ID] == nil {
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
		name := next[id].DisplayName
		if name == pub.People[ix.byID[id]].DisplayName {
			continue
		}
		for _, r := range ix.reports[id] {
			if rid := pub.People[r].ID; next[rid] == nil {
				edit(rid).ManagerName = name
			}
		}
	}

	depts := map[string]*GroupEntry{}
	dept := func(name string) *GroupEntry {
		key := DepartmentKey(pub.Source, name)
		if g := depts[key]; g != nil {
			return g
		}
		g := &GroupEntry{Key: key, Name: name, Kind: KindDepartment}
		if i, ok := ix.groups[key]; ok {
			g.Members = slices.Clone(pub.Groups[i].Members)
		}
		depts[key] = g
		return g
	}
	for _, id := range order {
		e, prev := next[id], &pub.People[ix.byID[id]]
		if e.Department == prev.Department {
			continue
		}
		if prev.Department != "" {
			g := dept(prev.Department)
			if i, ok := slices.BinarySearch(g.Members, e.Key); ok {
				g.Members = slices.Delete(g.Members, i, i+1)
			}
		}
		if e.Department != "" {
			g := dept(e.Department)
			if i, ok := slices.BinarySearch(g.Members, e.Key); !ok {
				g.Members = slices.Insert(g.Members, i, e.Key)
			}
		}
	}
	keys := make([]string, 0, len(depts))
	for k := range depts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		g := depts[k]
		if len(g.Members) > 0 {
			ch.Groups = append(ch.Groups, *g)
		} else if _, existed := ix.groups[k]; existed {
			ch.RemovedGroups = append(ch.RemovedGroups, k)
		}
	}

	for _, id := range order {
		ch.People = append(ch.People, *next[id])
	}
	ids := make([]string, 0, len(touched))
	for id := range touched {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		ch.People = append(ch.People, *touched[id])
	}
	return ch, nil
}

// Commit makes pub hold what Patch derived, once the store holds it too.
func (pub *Published) Commit(ch *Change) {
	ix := pub.index()
	for _, e := range ch.People {
		i := ix.byID[e.ID]
		if prev := pub.People[i].ManagerID; prev != e.ManagerID {
			if prev != "" {
				ix.reports[prev] = slices.DeleteFunc(ix.reports[prev], func(r int32) bool { return r == i })
				if len(ix.reports[prev]) == 0 {
					delete(ix.reports, prev)
				}
			}
			if e.ManagerID != "" {
				ix.reports[e.ManagerID] = append(ix.reports[e.ManagerID], i)
			}
		}
		pub.People[i] = e
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
