package directory

import (
	"reflect"
	"strings"
)

// An incremental read patches the source's state in place. The journal
// records how to undo each write, so a read that fails half-way leaves the
// last good state without copying 100,000 entries first, and which people
// it changed, so the run can publish just them.
type journal struct {
	undo    []func()
	hwm     string
	inChain map[string]map[string]bool
	people  map[string]*rawPerson // each changed person's entry before the read; nil if new
	groups  bool                  // a group was added, changed or removed
	skips   bool                  // an entry left out changed its reason
}

// begin starts journaling writes to st.
func (st *state) begin() {
	st.log = &journal{hwm: st.hwm, inChain: st.inChain, people: map[string]*rawPerson{}}
}

// rollback undoes every write since begin.
func (st *state) rollback() {
	j := st.log
	for i := len(j.undo) - 1; i >= 0; i-- {
		j.undo[i]()
	}
	st.hwm, st.inChain, st.log = j.hwm, j.inChain, nil
}

// commit keeps the writes since begin and returns their journal.
func (st *state) commit() *journal {
	j := st.log
	st.log = nil
	return j
}

// set writes m[k] = v, or deletes k when del, recording the undo step
// while a journal is open.
func set[K comparable, V any](st *state, m map[K]V, k K, v V, del bool) {
	if st.log != nil {
		old, had := m[k]
		st.log.undo = append(st.log.undo, func() {
			if had {
				m[k] = old
			} else {
				delete(m, k)
			}
		})
	}
	if del {
		delete(m, k)
	} else {
		m[k] = v
	}
}

func (st *state) setPerson(id string, p *rawPerson) {
	if st.log != nil {
		if _, seen := st.log.people[id]; !seen {
			st.log.people[id] = st.people[id]
		}
	}
	set(st, st.people, id, p, p == nil)
}

func (st *state) setGroup(id string, g *rawGroup) {
	if old := st.groups[id]; st.log != nil && (old == nil || g == nil || !sameGroup(old, g)) {
		st.log.groups = true
	}
	set(st, st.groups, id, g, g == nil)
}

func (st *state) setSkip(dn, reason string) {
	if st.log != nil && st.skips[dn] != reason {
		st.log.skips = true
	}
	set(st, st.skips, dn, reason, reason == "")
}

func (st *state) setDN(dn, id string) { set(st, st.idByDN, dn, id, id == "") }

// delta returns what j changed as a Delta, or nil when the change reaches
// beyond what a Delta carries: a login name changed (posixGroup members are
// login names), a DN changed outside AD (group members and managers are
// DNs, and only AD's follow a rename), someone joined
// whom a group already names, a group or a skipped entry changed. People
// whose manager's DN now names someone else (a manager joined or left) are
// among the changed.
func (s *LDAPSource) delta(j *journal) *Delta {
	st := s.state
	if j.groups || j.skips || len(s.cfg.IncludeGroups)+len(s.cfg.ExcludeGroups) > 0 {
		return nil
	}
	joined, left := map[string]string{}, map[string]string{} // normalised DN -> ID
	renamed := map[string]string{}                           // former normalised DN -> ID
	for id, old := range j.people {
		p := st.people[id]
		switch {
		case old == nil && p == nil:
		case old == nil:
			joined[normDN(p.dn)] = id
		case p == nil:
			left[normDN(old.dn)] = id
		case old.Username != p.Username:
			return nil
		case old.dn != p.dn:
			// Only AD's references follow a rename (see followRename).
			if s.cfg.Kind != KindAD {
				return nil
			}
			renamed[normDN(old.dn)] = id
		}
	}
	if len(joined) > 0 && s.groupsName(joined) {
		return nil
	}
	// A manager DN resolved as before the read: leavers still there,
	// joiners not yet.
	before := func(dn string) string {
		if id, ok := left[dn]; ok {
			return id
		}
		if id, ok := renamed[dn]; ok {
			return id
		}
		if _, ok := joined[dn]; ok {
			return ""
		}
		return st.idByDN[dn]
	}
	d := &Delta{Source: s.cfg.Name}
	seen := map[string]bool{}
	for id, old := range j.people {
		p := st.people[id]
		switch {
		case p == nil && old != nil:
			gone := old.Person
			gone.ManagerID = before(old.managerDN)
			d.Removed = append(d.Removed, gone)
		case p != nil && !samePerson(old, p):
			c := PersonChange{New: p.Person}
			c.New.ManagerID = st.idByDN[p.managerDN]
			if old != nil {
				c.Old = old.Person
				c.Old.ManagerID = before(old.managerDN)
			}
			seen[id] = true
			// A rename alone, or a manager's DN followed, changes nothing
			// published.
			if !reflect.DeepEqual(c.Old, c.New) {
				d.Changed = append(d.Changed, c)
			}
		}
	}
	if len(joined)+len(left) > 0 {
		for id, p := range st.people {
			if seen[id] {
				continue
			}
			if _, ok := joined[p.managerDN]; !ok {
				if _, ok := left[p.managerDN]; !ok {
					continue
				}
			}
			c := PersonChange{Old: p.Person, New: p.Person}
			c.Old.ManagerID, c.New.ManagerID = before(p.managerDN), st.idByDN[p.managerDN]
			if c.Old.ManagerID != c.New.ManagerID {
				d.Changed = append(d.Changed, c)
			}
		}
	}
	return d
}

// groupsName reports whether any group names one of the joined people,
// by DN or, for posixGroup, by login name.
func (s *LDAPSource) groupsName(joined map[string]string) bool {
	st := s.state
	users := map[string]bool{}
	for _, id := range joined {
		if u := st.people[id].Username; u != "" {
			users[strings.ToLower(u)] = true
		}
	}
	for _, g := range st.groups {
		for _, m := range g.members {
			if _, ok := joined[m]; ok {
				return true
			}
		}
		for _, u := range g.uids {
			if users[strings.ToLower(u)] {
				return true
			}
		}
	}
	return false
}
