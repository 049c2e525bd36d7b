package directory

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

const reasonExcludedOU = "in an excluded OU"

// rawPerson is an entry before the whole snapshot is known: its manager
// and group memberships are still DNs.
type rawPerson struct {
	Person
	dn        string
	managerDN string // normalised
}

type rawGroup struct {
	g       Group
	dn      string
	members []string // member and uniqueMember DNs, normalised
	uids    []string // memberUid values
}

// state is the source's last read. An incremental run patches it with
// what changed and rebuilds the snapshot from memory.
type state struct {
	people  map[string]*rawPerson // by ID
	groups  map[string]*rawGroup  // by ID
	idByDN  map[string]string     // normalised DN -> person ID
	skips   map[string]string     // DN -> reason, for entries left out
	hwm     string                // highest change marker seen
	numeric bool                  // markers are numbers (AD uSNChanged)
	// inChain holds, for AD, the people in each include/exclude group
	// (by normalised DN) as the server resolves nesting.
	inChain map[string]map[string]bool
	log     *journal // open during an incremental read
	// interned holds the values many people share (company, department,
	// title, office, address parts, manager DN) during a full read: one
	// copy instead of one per person.
	interned map[string]string
}

// maxInterned bounds the values interned during a read.
const maxInterned = 100000

func (st *state) intern(v string) string {
	if st.interned == nil || v == "" {
		return v
	}
	if u, ok := st.interned[v]; ok {
		return u
	}
	if len(st.interned) < maxInterned {
		st.interned[v] = v
	}
	return v
}

func (st *state) newer(a, b string) bool {
	if st.numeric && len(a) != len(b) {
		return len(a) > len(b)
	}
	return a > b
}

func (st *state) see(marker string) {
	if marker != "" && st.newer(marker, st.hwm) {
		st.hwm = marker
	}
}

// markerAttr is the attribute every change raises: AD's uSNChanged;
// OpenLDAP's entryCSN (microseconds and a change counter); else
// modifyTimestamp, whose one-second resolution makes incremental reads
// re-read the entries of the last second.
func (s *LDAPSource) markerAttr() string {
	switch {
	case s.cfg.Kind == KindAD:
		return "uSNChanged"
	case s.useCSN:
		return "entryCSN"
	}
	return "modifyTimestamp"
}

// Snapshot reads every person and group in scope. Any failure (connect,
// bind, search, timeout) fails the whole run, so a partial read is never
// applied; a bad value in one entry is skipped and reported instead.
func (s *LDAPSource) Snapshot(ctx context.Context) (Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.readState(ctx); err != nil {
		return Snapshot{}, err
	}
	return s.build(), nil
}

// readState reads everything in scope into a new state. The new read
// replaces the last: holding both would double the source's memory at its
// peak. If the read fails, no state is left and the next incremental run
// reads everything. The caller holds s.mu.
func (s *LDAPSource) readState(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	s.state = nil
	st, err := s.readAll(ctx)
	if err != nil {
		s.dropConn()
		return err
	}
	s.state = st
	return nil
}

func (s *LDAPSource) readAll(ctx context.Context) (*state, error) {
	c, err := s.service(ctx)
	if err != nil {
		return nil, err
	}
	if s.cfg.Kind != KindAD {
		// A server that keeps entryCSN on its root entries keeps it on all.
		s.useCSN = false
		for _, base := range s.cfg.PeopleBases {
			res, err := c.Search(ldap.NewSearchRequest(base, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, int(s.cfg.Timeout.Seconds()), false,
				"(objectClass=*)", []string{"entryCSN"}, nil))
			if err != nil {
				return nil, fmt.Errorf("ldap: read base %q: %w (%s)", base, tidy(err), baseHint(err))
			}
			if len(res.Entries) == 1 && res.Entries[0].GetAttributeValue("entryCSN") != "" {
				s.useCSN = true
			}
		}
	}
	st := &state{people: map[string]*rawPerson{}, groups: map[string]*rawGroup{}, idByDN: map[string]string{},
		skips: map[string]string{}, numeric: s.cfg.Kind == KindAD, interned: map[string]string{}}
	defer func() { st.interned = nil }()
	attrs := s.personAttributes()
	for _, base := range s.cfg.PeopleBases {
		if err := s.search(ctx, c, base, s.cfg.PeopleScope, s.cfg.PeopleFilter, attrs, func(e *ldap.Entry) error {
			s.putPerson(st, e)
			return nil
		}); err != nil {
			return nil, err
		}
	}
	if err := s.markFlags(ctx, c, st); err != nil {
		return nil, err
	}
	if len(s.cfg.GroupBases) > 0 {
		attrs := s.groupAttributes()
		for _, base := range s.cfg.GroupBases {
			if err := s.search(ctx, c, base, ldap.ScopeWholeSubtree, s.cfg.GroupFilter, attrs, func(e *ldap.Entry) error {
				s.putGroup(st, e)
				return nil
			}); err != nil {
				return nil, err
			}
		}
	}
	if err := s.resolveInChain(ctx, c, st); err != nil {
		return nil, err
	}
	return st, nil
}

// inChainRule is AD's LDAP_MATCHING_RULE_IN_CHAIN: the server follows
// nested membership, loops included.
const inChainRule = "1.2.840.113556.1.4.1941"

// resolveInChain asks AD for the nested members of each include/exclude
// group, which also works for groups outside groups.base_dns. Other
// directories resolve nesting from the groups read.
func (s *LDAPSource) resolveInChain(ctx context.Context, c *ldap.Conn, st *state) error {
	if s.cfg.Kind != KindAD || len(s.cfg.IncludeGroups)+len(s.cfg.ExcludeGroups) == 0 {
		return nil
	}
	st.inChain = map[string]map[string]bool{}
	for _, dn := range append(append([]string(nil), s.cfg.IncludeGroups...), s.cfg.ExcludeGroups...) {
		set := map[string]bool{}
		filter := "(&" + s.cfg.PeopleFilter + "(memberOf:" + inChainRule + ":=" + ldap.EscapeFilter(dn) + "))"
		for _, base := range s.cfg.PeopleBases {
			if err := s.search(ctx, c, base, s.cfg.PeopleScope, filter, []string{s.cfg.IDAttribute}, func(e *ldap.Entry) error {
				if id, err := s.cfg.entryID(e); err == nil {
					set[id] = true
				}
				return nil
			}); err != nil {
				return err
			}
		}
		st.inChain[normDN(dn)] = set
	}
	return nil
}

// putPerson maps an entry into the state, replacing its earlier version
// (a rename or move keeps the ID), or records why it is left out.
func (s *LDAPSource) putPerson(st *state, e *ldap.Entry) {
	st.see(e.GetAttributeValue(s.markerAttr()))
	n := normDN(e.DN)
	if s.excludedOU(e.DN) {
		st.setSkip(n, reasonExcludedOU)
		if id, ok := st.idByDN[n]; ok {
			st.dropPerson(id)
		}
		return
	}
	p, skip, photoErr := s.cfg.mapPerson(e, st.intern)
	if photoErr != nil {
		s.log.Warn("photo dropped", "dn", e.DN, "err", photoErr)
	}
	if skip != "" {
		st.setSkip(n, skip)
		return
	}
	st.setSkip(n, "")
	old := st.people[p.ID]
	if old != nil {
		// Filter-based flags carry over until markFlags re-evaluates them;
		// AD's disabled flag comes with the entry.
		p.Hidden = old.Hidden
		if s.cfg.Kind != KindAD {
			p.Disabled = old.Disabled
		}
		st.setDN(normDN(old.dn), "")
	}
	st.setPerson(p.ID, &p)
	st.setDN(n, p.ID)
	if old != nil {
		s.followRename(st, normDN(old.dn), n)
	}
}

// followRename points references to a renamed or moved entry at its new
// DN, on AD only: AD's member and manager values are links that follow
// the entry without the entries holding them changing, so no change marker
// would bring them. Elsewhere such references dangle until the directory
// rewrites them (OpenLDAP's refint overlay), which arrives as their own
// change. The rewrite changes no one's membership or manager, so it is
// not reported as a group change.
func (s *LDAPSource) followRename(st *state, from, to string) {
	if from == to || s.cfg.Kind != KindAD {
		return
	}
	for id, g := range st.groups {
		if !slices.Contains(g.members, from) {
			continue
		}
		n := *g
		n.members = slices.Clone(g.members)
		for i, m := range n.members {
			if m == from {
				n.members[i] = to
			}
		}
		set(st, st.groups, id, &n, false)
	}
	for id, p := range st.people {
		if p.managerDN == from {
			n := *p
			n.managerDN = to
			st.setPerson(id, &n)
		}
	}
}

func (s *LDAPSource) putGroup(st *state, e *ldap.Entry) {
	st.see(e.GetAttributeValue(s.markerAttr()))
	id, err := s.cfg.entryID(e)
	if err != nil {
		s.log.Warn("group skipped", "dn", e.DN, "err", err)
		return
	}
	name := e.GetAttributeValue("displayName")
	if name == "" {
		name = e.GetAttributeValue("cn")
	}
	rg := &rawGroup{g: Group{ID: id, Name: name}, dn: e.DN, uids: e.GetAttributeValues("memberUid")}
	for _, m := range append(e.GetAttributeValues("member"), e.GetAttributeValues("uniqueMember")...) {
		m, _, _ = strings.Cut(m, "#") // uniqueMember's optional "#'0101'B" suffix
		rg.members = append(rg.members, normDN(m))
	}
	old := st.groups[id]
	st.setGroup(id, rg)
	if old != nil {
		s.followRename(st, normDN(old.dn), normDN(e.DN))
	}
}

// markFlags evaluates the hidden and disabled filters on the server, so
// any filter an admin writes works; only DNs come back.
func (s *LDAPSource) markFlags(ctx context.Context, c *ldap.Conn, st *state) error {
	hidden, disabled := map[string]bool{}, map[string]bool{}
	for _, f := range []struct {
		filter string
		set    map[string]bool
	}{{s.cfg.HiddenFilter, hidden}, {s.cfg.DisabledFilter, disabled}} {
		if f.filter == "" {
			continue
		}
		filter := "(&" + s.cfg.PeopleFilter + f.filter + ")"
		for _, base := range s.cfg.PeopleBases {
			if err := s.search(ctx, c, base, s.cfg.PeopleScope, filter, []string{"1.1"}, func(e *ldap.Entry) error {
				if id, ok := st.idByDN[normDN(e.DN)]; ok {
					f.set[id] = true
				}
				return nil
			}); err != nil {
				return err
			}
		}
	}
	for id, p := range st.people {
		s.setFlags(st, id, p, hidden[id], disabled[id])
	}
	return nil
}

// setFlags applies filter results to one person, replacing the entry when
// they change it: entries are never changed in place, since the journal
// keeps the old one to undo a failed read and to tell what changed.
func (s *LDAPSource) setFlags(st *state, id string, p *rawPerson, hidden, disabled bool) {
	d := p.Disabled
	if s.cfg.Kind != KindAD || s.cfg.DisabledFilter != "" {
		d = disabled || (s.cfg.Kind == KindAD && p.Disabled)
	}
	if p.Hidden == hidden && p.Disabled == d {
		return
	}
	n := *p
	n.Hidden, n.Disabled = hidden, d
	st.setPerson(id, &n)
}

// baseHint says what to do when a base DN cannot be read.
func baseHint(err error) string {
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return "no such entry: check people.base_dns; quote DNs in [...] lists, which YAML splits at commas"
	}
	return "check people.base_dns and that the bind account may read it"
}
