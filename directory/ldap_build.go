package directory

import (
	"sort"
	"strings"
)

// build turns the state into a snapshot: member and manager DNs resolved
// to IDs, dangling members dropped, the include/exclude groups applied.
func (s *LDAPSource) build() Snapshot {
	st := s.state
	snap := Snapshot{Source: s.cfg.Name, People: make([]Person, 0, len(st.people))}
	var byUID map[string]string // only posixGroup's memberUid needs it
	for _, g := range st.groups {
		if len(g.uids) > 0 {
			byUID = map[string]string{}
			for id, p := range st.people {
				if p.Username != "" {
					byUID[strings.ToLower(p.Username)] = id
				}
			}
			break
		}
	}
	groupByDN := map[string]string{}
	gids := make([]string, 0, len(st.groups))
	for id, g := range st.groups {
		groupByDN[normDN(g.dn)] = id
		gids = append(gids, id)
	}
	sort.Strings(gids)
	s.groupDNs.Store(&groupByDN)
	for _, id := range gids {
		rg := st.groups[id]
		g := Group{ID: rg.g.ID, Name: rg.g.Name}
		for _, n := range rg.members {
			if pid, ok := st.idByDN[n]; ok {
				g.Members = append(g.Members, pid)
			} else if gid, ok := groupByDN[n]; ok {
				g.Subgroups = append(g.Subgroups, gid)
			}
		}
		for _, u := range rg.uids {
			if pid, ok := byUID[strings.ToLower(u)]; ok {
				g.Members = append(g.Members, pid)
			}
		}
		snap.Groups = append(snap.Groups, g)
	}
	keep := s.groupScope(snap.Groups, groupByDN)
	// Map order: neither Normalize nor the store depends on it.
	for id, p := range st.people {
		if keep != nil && !keep(id) {
			snap.Skips = append(snap.Skips, Skip{ID: p.dn, Reason: "outside the include/exclude groups", Excluded: true})
			continue
		}
		person := p.Person
		person.ManagerID = st.idByDN[p.managerDN]
		snap.People = append(snap.People, person)
	}
	dns := make([]string, 0, len(st.skips))
	for dn := range st.skips {
		dns = append(dns, dn)
	}
	sort.Strings(dns)
	for _, dn := range dns {
		snap.Skips = append(snap.Skips, Skip{ID: dn, Reason: st.skips[dn], Excluded: st.skips[dn] == reasonExcludedOU})
	}
	return snap
}

// groupScope returns the include/exclude-groups test, or nil when neither
// is configured. Membership counts through nested groups.
func (s *LDAPSource) groupScope(groups []Group, groupByDN map[string]string) func(id string) bool {
	if len(s.cfg.IncludeGroups) == 0 && len(s.cfg.ExcludeGroups) == 0 {
		return nil
	}
	byID := map[string]*Group{}
	for i := range groups {
		byID[groups[i].ID] = &groups[i]
	}
	members := func(dns []string) map[string]bool {
		out := map[string]bool{}
		for _, dn := range dns {
			if set, ok := s.state.inChain[normDN(dn)]; ok {
				for id := range set {
					out[id] = true
				}
				continue
			}
			g := byID[groupByDN[normDN(dn)]]
			if g == nil {
				s.log.Warn("include/exclude group not found", "dn", dn)
				continue
			}
			for _, id := range memberIDs(g, byID) {
				out[id] = true
			}
		}
		return out
	}
	inc, exc := members(s.cfg.IncludeGroups), members(s.cfg.ExcludeGroups)
	return func(id string) bool {
		if len(s.cfg.IncludeGroups) > 0 && !inc[id] {
			return false
		}
		return !exc[id]
	}
}
