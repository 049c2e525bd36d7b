package directory

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Changes brings the last read up to date and reports whether anything
// changed. While a watch runs it applies the pushed changes; otherwise it
// reads entries whose change marker (see markerAttr) is at or above the
// highest seen and, with sweep, lists the DNs in scope to find deletions
// and moves out of scope, which markers cannot show: the listing costs
// O(people) on the server, the marker search O(changes). Without an earlier
// full read it does one. When the change fits a Delta (edits, joiners no
// group names yet, leavers) it returns one; otherwise the Delta is nil and
// Current gives the whole snapshot.
func (s *LDAPSource) Changes(ctx context.Context, sweep bool) (*Delta, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == nil {
		if err := s.readState(ctx); err != nil {
			return nil, false, err
		}
		return nil, true, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	s.state.begin()
	changed, err := s.changes(ctx, sweep)
	if err != nil {
		s.state.rollback()
		s.dropConn()
		return nil, false, err
	}
	j := s.state.commit()
	if !changed {
		return nil, false, nil
	}
	return s.delta(j), true, nil
}

// Current returns the whole snapshot as of the last read.
func (s *LDAPSource) Current() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == nil {
		return Snapshot{Source: s.cfg.Name}
	}
	return s.build()
}

func (s *LDAPSource) changes(ctx context.Context, sweep bool) (bool, error) {
	c, err := s.service(ctx)
	if err != nil {
		return false, err
	}
	// Writes are journaled (see Changes): a failure half-way leaves the
	// last good state.
	st := s.state
	if s.Pushing() {
		s.pushMu.Lock()
		pend := s.pending
		s.pending = nil
		s.pushMu.Unlock()
		changed, touched := s.applyPushed(st, pend)
		flagged, err := s.recheckFlags(ctx, c, st, touched)
		if err == nil && sweep {
			// Pushed changes need no listing, but a sweep still asks the
			// server something: a connection that died without a word
			// shows here, not as a quiet source.
			err = s.ping(c)
		}
		if err != nil {
			s.pushMu.Lock()
			s.pending = append(pend, s.pending...)
			s.pushMu.Unlock()
			return false, err
		}
		return changed || flagged, nil
	}
	changed := false
	since := "(" + s.markerAttr() + ">=" + ldap.EscapeFilter(st.hwm) + ")"
	attrs := s.personAttributes()
	present := map[string]bool{}
	var touched []string
	for _, base := range s.cfg.PeopleBases {
		if st.hwm != "" {
			if err := s.search(ctx, c, base, s.cfg.PeopleScope, "(&"+s.cfg.PeopleFilter+since+")", attrs, func(e *ldap.Entry) error {
				id, ch := s.updatePerson(st, e)
				changed = changed || ch
				touched = append(touched, id)
				return nil
			}); err != nil {
				return false, err
			}
		}
		if !sweep {
			continue
		}
		// DNs only, in large pages: the entries just read are in idByDN
		// under their current DN, so a listed DN names a person still there.
		if err := s.searchPaged(ctx, c, base, s.cfg.PeopleScope, s.cfg.PeopleFilter, []string{"1.1"}, max(s.cfg.PageSize, 5000), func(e *ldap.Entry) error {
			if id, ok := st.idByDN[normDN(e.DN)]; ok {
				present[id] = true
			}
			return nil
		}); err != nil {
			return false, err
		}
	}
	if sweep {
		for id := range st.people {
			if !present[id] {
				changed = st.dropPerson(id) || changed
			}
		}
	}
	// Flags change with an attribute of the entry, which moves its change
	// marker: only the entries just read need the filters. Filters that
	// depend on other entries (AD's memberOf) are re-evaluated by the full
	// run on schedule.interval.
	flagged, err := s.recheckFlags(ctx, c, st, touched)
	if err != nil {
		return false, err
	}
	changed = changed || flagged
	if len(s.cfg.GroupBases) > 0 {
		gpresent := map[string]bool{}
		for _, base := range s.cfg.GroupBases {
			if st.hwm != "" {
				if err := s.search(ctx, c, base, ldap.ScopeWholeSubtree, "(&"+s.cfg.GroupFilter+since+")", s.groupAttributes(), func(e *ldap.Entry) error {
					changed = s.updateGroup(st, e) || changed
					return nil
				}); err != nil {
					return false, err
				}
			}
			if !sweep {
				continue
			}
			if err := s.search(ctx, c, base, ldap.ScopeWholeSubtree, s.cfg.GroupFilter, []string{s.cfg.IDAttribute}, func(e *ldap.Entry) error {
				if id, err := s.cfg.entryID(e); err == nil {
					gpresent[id] = true
				}
				return nil
			}); err != nil {
				return false, err
			}
		}
		if sweep {
			for id := range st.groups {
				if !gpresent[id] {
					st.setGroup(id, nil)
					changed = true
				}
			}
		}
	}
	if changed && st.inChain != nil {
		if err := s.resolveInChain(ctx, c, st); err != nil {
			return false, err
		}
	}
	return changed, nil
}

// recheckFlags evaluates the hidden and disabled filters for the given
// people only (a base-scope search per entry and filter) and reports
// whether any flag changed.
func (s *LDAPSource) recheckFlags(ctx context.Context, c *ldap.Conn, st *state, ids []string) (bool, error) {
	changed := false
	for _, id := range ids {
		p := st.people[id]
		if p == nil {
			continue
		}
		var flags [2]bool
		for i, f := range []string{s.cfg.HiddenFilter, s.cfg.DisabledFilter} {
			if f == "" {
				continue
			}
			res, err := c.Search(ldap.NewSearchRequest(p.dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, int(s.cfg.Timeout.Seconds()), false,
				"(&"+s.cfg.PeopleFilter+f+")", []string{"1.1"}, nil))
			if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
				return false, fmt.Errorf("ldap: check %q against %s: %w", p.dn, f, tidy(err))
			}
			flags[i] = err == nil && len(res.Entries) == 1
		}
		s.setFlags(st, id, p, flags[0], flags[1])
		changed = changed || st.people[id] != p
	}
	return changed, nil
}

// updatePerson puts a read or pushed entry into the state and reports its
// ID and whether that changed what the state holds for it.
func (s *LDAPSource) updatePerson(st *state, e *ldap.Entry) (string, bool) {
	n := normDN(e.DN)
	id, err := s.cfg.entryID(e)
	if err != nil {
		id = st.idByDN[n]
	}
	before, beforeSkip := st.people[id], st.skips[n]
	s.putPerson(st, e)
	return id, !samePerson(before, st.people[id]) || beforeSkip != st.skips[n]
}

// updateGroup puts a read or pushed group into the state and reports
// whether it changed.
func (s *LDAPSource) updateGroup(st *state, e *ldap.Entry) bool {
	id, _ := s.cfg.entryID(e)
	before := st.groups[id]
	s.putGroup(st, e)
	return before == nil || !sameGroup(before, st.groups[id])
}

// dropPerson removes a person from the state; it reports whether it held them.
func (st *state) dropPerson(id string) bool {
	p, ok := st.people[id]
	if ok {
		st.setPerson(id, nil)
		st.setDN(normDN(p.dn), "")
	}
	return ok
}

func sameGroup(a, b *rawGroup) bool { return reflect.DeepEqual(a, b) }

func samePerson(a, b *rawPerson) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.dn == b.dn && a.managerDN == b.managerDN && reflect.DeepEqual(a.Person, b.Person)
}

// ping reads the first people base's entry itself: the cheapest question
// that proves the server answers.
func (s *LDAPSource) ping(c *ldap.Conn) error {
	base := s.cfg.PeopleBases[0]
	_, err := c.Search(ldap.NewSearchRequest(base, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, int(s.cfg.Timeout.Seconds()), false,
		"(objectClass=*)", []string{"1.1"}, nil))
	if err != nil {
		return fmt.Errorf("ldap: read base %q: %w", base, tidy(err))
	}
	return nil
}
