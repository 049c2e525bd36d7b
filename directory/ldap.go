package directory

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/google/uuid"
)

// Kinds of LDAP source.
const (
	KindLDAP = "ldap" // OpenLDAP, 389-ds and other RFC 4519 directories
	KindAD   = "ad"   // Active Directory (and Samba AD)
)

// MappingFields are the contact fields an attribute can be mapped to.
var MappingFields = []string{
	"given_name", "family_name", "display_name", "email", "work_phone", "mobile", "home_phone", "fax",
	"title", "department", "organization", "office", "street", "city", "region", "postal_code", "country",
	"manager", "website", "notes", "birthday", "employee_id", "photo", "im",
}

// DefaultMapping returns the attribute mapping of a kind of directory.
func DefaultMapping(kind string) map[string]string {
	m := map[string]string{
		"given_name": "givenName", "family_name": "sn", "display_name": "displayName", "email": "mail",
		"work_phone": "telephoneNumber", "mobile": "mobile", "home_phone": "homePhone",
		"fax": "facsimileTelephoneNumber", "title": "title", "office": "physicalDeliveryOfficeName",
		"street": "street", "city": "l", "region": "st", "postal_code": "postalCode", "manager": "manager",
		"notes": "description",
	}
	if kind == KindAD {
		m["department"], m["organization"], m["country"] = "department", "company", "co"
		m["website"], m["employee_id"], m["photo"] = "wWWHomePage", "employeeID", "thumbnailPhoto"
		m["im"] = "msRTCSIP-PrimaryUserAddress" // Skype for Business / Teams SIP address
		m["street"] = "streetAddress"
	} else {
		m["department"], m["organization"] = "departmentNumber", "o"
		m["website"], m["employee_id"], m["photo"] = "labeledURI", "employeeNumber", "jpegPhoto"
	}
	return m
}

// LDAPConfig is what an LDAP or AD source needs; the config package
// builds it from the YAML file.
type LDAPConfig struct {
	Name     string
	Kind     string // KindLDAP or KindAD
	URL      string // ldap:// or ldaps://
	StartTLS bool
	TLS      *tls.Config
	BindDN   string
	Password string
	Timeout  time.Duration
	PageSize int

	PeopleBases   []string
	PeopleScope   int // ldap.ScopeWholeSubtree or ldap.ScopeSingleLevel
	PeopleFilter  string
	GroupBases    []string
	GroupFilter   string
	ExcludeOUs    []string
	IncludeGroups []string // DNs: only their (nested) members are published
	ExcludeGroups []string // DNs: their (nested) members are not published

	// IncludeContacts publishes AD contact objects (external people
	// without an account) along with users.
	IncludeContacts bool

	HiddenFilter   string // people matching it are hidden ("list in directory" off)
	DisabledFilter string // people matching it are disabled

	IDAttribute     string
	LoginAttributes []string // first is the user name shown in paths
	Mapping         map[string]string
}

// DefaultPeopleFilter and DefaultGroupFilter are the per-kind defaults.
func DefaultPeopleFilter(kind string) string {
	if kind == KindAD {
		return "(&(objectCategory=person)(objectClass=user))"
	}
	return "(objectClass=inetOrgPerson)"
}

func DefaultGroupFilter(kind string) string {
	if kind == KindAD {
		return "(objectClass=group)"
	}
	return "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))"
}

// DefaultIDAttribute is the stable identifier of a kind of directory.
func DefaultIDAttribute(kind string) string {
	if kind == KindAD {
		return "objectGUID"
	}
	return "entryUUID"
}

// DefaultLoginAttributes are what people type as their user name.
func DefaultLoginAttributes(kind string) []string {
	if kind == KindAD {
		return []string{"sAMAccountName", "userPrincipalName"}
	}
	return []string{"uid"}
}

// LDAPSource reads people and groups from one LDAP server. It keeps one
// service connection, reused across runs and re-dialled when it breaks.
type LDAPSource struct {
	cfg LDAPConfig
	log *slog.Logger

	mu   sync.Mutex // the service connection, used by runs
	conn *ldap.Conn

	loginMu   sync.Mutex // a second service connection for login look-ups,
	loginConn *ldap.Conn // so logins do not wait for a long run

	state  *state // the last read, guarded by mu
	useCSN bool   // the server keeps entryCSN (OpenLDAP); set by a full read

	pushMu  sync.Mutex // changes pushed by a watch, waiting for Changes
	pending []pushed
	pushing bool
}

// NewLDAPSource builds a source; nothing is dialled until it is used.
func NewLDAPSource(cfg LDAPConfig, log *slog.Logger) *LDAPSource {
	if cfg.PageSize <= 0 {
		cfg.PageSize = 500
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.IncludeContacts {
		cfg.PeopleFilter = "(|" + cfg.PeopleFilter + "(objectClass=contact))"
	}
	return &LDAPSource{cfg: cfg, log: log.With("source", cfg.Name)}
}

// Name is the source's name.
func (s *LDAPSource) Name() string { return s.cfg.Name }

// Close drops the service connection.
func (s *LDAPSource) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
	s.loginMu.Lock()
	defer s.loginMu.Unlock()
	if s.loginConn != nil {
		s.loginConn.Close()
		s.loginConn = nil
	}
}

// dial opens a connection (TLS or StartTLS as configured) without binding.
func (s *LDAPSource) dial(ctx context.Context) (*ldap.Conn, error) {
	d := &net.Dialer{Timeout: s.cfg.Timeout}
	opts := []ldap.DialOpt{ldap.DialWithDialer(d)}
	if s.cfg.TLS != nil {
		opts = append(opts, ldap.DialWithTLSConfig(s.cfg.TLS))
	}
	c, err := ldap.DialURL(s.cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("ldap: connect %s: %w (check url, that the server runs and the network path)", s.cfg.URL, err)
	}
	c.SetTimeout(s.cfg.Timeout)
	if s.cfg.StartTLS {
		if err := c.StartTLS(s.cfg.TLS); err != nil {
			c.Close()
			return nil, fmt.Errorf("ldap: StartTLS with %s: %w (check ca_file, or the server's TLS setup)", s.cfg.URL, err)
		}
	}
	return c, ctx.Err()
}

// service returns the bound service connection, dialling it if needed.
func (s *LDAPSource) service(ctx context.Context) (*ldap.Conn, error) {
	if s.conn != nil && !s.conn.IsClosing() {
		return s.conn, nil
	}
	c, err := s.dial(ctx)
	if err != nil {
		return nil, err
	}
	if s.cfg.BindDN != "" {
		if err := c.Bind(s.cfg.BindDN, s.cfg.Password); err != nil {
			c.Close()
			return nil, fmt.Errorf("ldap: bind as %q: %w (check bind_dn and the bind password)", s.cfg.BindDN, err)
		}
	}
	s.conn = c
	return c, nil
}

// search runs a paged search and streams the entries to fn, so a large
// directory is never held as one result. Continuation references (AD's
// referral to CN=Configuration) are skipped: people live in the base.
func (s *LDAPSource) search(ctx context.Context, c *ldap.Conn, base string, scope int, filter string, attrs []string, fn func(*ldap.Entry) error) error {
	return s.searchPaged(ctx, c, base, scope, filter, attrs, s.cfg.PageSize, fn)
}

func (s *LDAPSource) searchPaged(ctx context.Context, c *ldap.Conn, base string, scope int, filter string, attrs []string, pageSize int, fn func(*ldap.Entry) error) error {
	paging := ldap.NewControlPaging(uint32(pageSize))
	for {
		req := ldap.NewSearchRequest(base, scope, ldap.NeverDerefAliases, 0, int(s.cfg.Timeout.Seconds()), false, filter, attrs, []ldap.Control{paging})
		resp := c.SearchAsync(ctx, req, 256)
		for resp.Next() {
			if e := resp.Entry(); e != nil {
				if err := fn(e); err != nil {
					return err
				}
			} else if ref := resp.Referral(); ref != "" {
				s.log.Debug("ldap: skipping referral", "base", base, "referral", ref)
			}
		}
		if err := resp.Err(); err != nil {
			return fmt.Errorf("ldap: search %q %s: %w", base, filter, err)
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("ldap: search %q: %w", base, err)
		}
		ctrl, _ := ldap.FindControl(resp.Controls(), ldap.ControlTypePaging).(*ldap.ControlPaging)
		if ctrl == nil || len(ctrl.Cookie) == 0 {
			return nil
		}
		paging.SetCookie(ctrl.Cookie)
	}
}

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

// dropConn closes a connection that failed, so the next run redials.
func (s *LDAPSource) dropConn() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
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
				return nil, fmt.Errorf("ldap: read base %q: %w (check people.base_dns)", base, err)
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
				if id, err := s.entryID(e); err == nil {
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
	p, skip := s.mapPerson(st, e)
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

func (s *LDAPSource) groupAttributes() []string {
	return []string{s.cfg.IDAttribute, "cn", "displayName", "member", "uniqueMember", "memberUid", s.markerAttr()}
}

func (s *LDAPSource) putGroup(st *state, e *ldap.Entry) {
	st.see(e.GetAttributeValue(s.markerAttr()))
	id, err := s.entryID(e)
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
				return false, fmt.Errorf("ldap: check %q against %s: %w", p.dn, f, err)
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
	id, err := s.entryID(e)
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
	id, _ := s.entryID(e)
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
				if id, err := s.entryID(e); err == nil {
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

func sameGroup(a, b *rawGroup) bool { return reflect.DeepEqual(a, b) }

func samePerson(a, b *rawPerson) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.dn == b.dn && a.managerDN == b.managerDN && reflect.DeepEqual(a.Person, b.Person)
}

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

func (s *LDAPSource) personAttributes() []string {
	set := map[string]bool{s.cfg.IDAttribute: true}
	for _, a := range s.cfg.LoginAttributes {
		set[a] = true
	}
	for _, a := range s.cfg.Mapping {
		if a != "" {
			set[a] = true
		}
	}
	if s.cfg.Kind == KindAD {
		set["userAccountControl"] = true
	}
	set["cn"] = true
	set[s.markerAttr()] = true
	out := make([]string, 0, len(set))
	for a := range set {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

func (s *LDAPSource) excludedOU(dn string) bool {
	if len(s.cfg.ExcludeOUs) == 0 {
		return false
	}
	d, err := ldap.ParseDN(dn)
	if err != nil {
		return false
	}
	for _, ou := range s.cfg.ExcludeOUs {
		if o, err := ldap.ParseDN(ou); err == nil && (o.AncestorOfFold(d) || o.EqualFold(d)) {
			return true
		}
	}
	return false
}

// entryID reads the stable identifier. objectGUID is stored mixed-endian:
// the first three fields are little-endian, so they are swapped to give
// the canonical string AD tools show.
func (s *LDAPSource) entryID(e *ldap.Entry) (string, error) {
	attr := s.cfg.IDAttribute
	raw := e.GetEqualFoldRawAttributeValue(attr)
	if len(raw) == 0 {
		return "", fmt.Errorf("no %s", attr)
	}
	if strings.EqualFold(attr, "objectGUID") {
		if len(raw) != 16 {
			return "", fmt.Errorf("objectGUID of %d bytes", len(raw))
		}
		return GUIDString(raw), nil
	}
	return strings.ToLower(strings.TrimSpace(string(raw))), nil
}

// GUIDString renders AD's 16-byte objectGUID as the canonical GUID.
func GUIDString(b []byte) string {
	var u uuid.UUID
	u[0], u[1], u[2], u[3] = b[3], b[2], b[1], b[0]
	u[4], u[5] = b[5], b[4]
	u[6], u[7] = b[7], b[6]
	copy(u[8:], b[8:16])
	return u.String()
}

func (s *LDAPSource) attr(e *ldap.Entry, field string) string {
	if a := s.cfg.Mapping[field]; a != "" {
		return e.GetEqualFoldAttributeValue(a)
	}
	return ""
}

func (s *LDAPSource) attrs(e *ldap.Entry, field string) []string {
	if a := s.cfg.Mapping[field]; a != "" {
		return e.GetEqualFoldAttributeValues(a)
	}
	return nil
}

// mapPerson maps one entry; it returns a reason when the entry cannot be
// a person at all. Invalid values are dropped later by Normalize, with a
// reason each.
func (s *LDAPSource) mapPerson(st *state, e *ldap.Entry) (rawPerson, string) {
	id, err := s.entryID(e)
	if err != nil {
		return rawPerson{}, "no usable identifier: " + err.Error()
	}
	p := rawPerson{dn: e.DN}
	if m := s.attr(e, "manager"); m != "" {
		p.managerDN = st.intern(normDN(m))
	}
	p.ID = id
	for _, a := range s.cfg.LoginAttributes {
		if v := e.GetEqualFoldAttributeValue(a); v != "" {
			p.Username = v
			break
		}
	}
	p.GivenName = s.attr(e, "given_name")
	p.FamilyName = s.attr(e, "family_name")
	p.DisplayName = s.attr(e, "display_name")
	if p.DisplayName == "" && p.GivenName == "" && p.FamilyName == "" {
		p.DisplayName = e.GetAttributeValue("cn")
	}
	p.Emails = s.attrs(e, "email")
	for _, ph := range []struct {
		field string
		kind  PhoneKind
	}{{"work_phone", PhoneWork}, {"mobile", PhoneMobile}, {"home_phone", PhoneHome}, {"fax", PhoneFax}} {
		for _, n := range s.attrs(e, ph.field) {
			p.Phones = append(p.Phones, Phone{Kind: ph.kind, Number: n})
		}
	}
	p.Title = st.intern(s.attr(e, "title"))
	p.Department = st.intern(s.attr(e, "department"))
	p.Company = st.intern(s.attr(e, "organization"))
	p.Office = st.intern(s.attr(e, "office"))
	addr := Address{Street: st.intern(s.attr(e, "street")), City: st.intern(s.attr(e, "city")), Region: st.intern(s.attr(e, "region")),
		PostalCode: st.intern(s.attr(e, "postal_code")), Country: st.intern(s.attr(e, "country"))}
	if addr != (Address{}) {
		p.Address = &addr
	}
	p.Website = s.attr(e, "website")
	if s.cfg.Mapping["website"] == "labeledURI" {
		p.Website, _, _ = strings.Cut(p.Website, " ")
	}
	p.Notes = s.attr(e, "notes")
	p.IMs = s.attrs(e, "im")
	p.Birthday = ldapDate(s.attr(e, "birthday"))
	p.EmployeeID = s.attr(e, "employee_id")
	if a := s.cfg.Mapping["photo"]; a != "" {
		if raw := e.GetEqualFoldRawAttributeValue(a); len(raw) > 0 {
			photo, err := ProcessPhoto(raw)
			if err != nil {
				s.log.Warn("photo dropped", "dn", e.DN, "err", err)
			} else {
				p.Photo = photo
			}
		}
	}
	if s.cfg.Kind == KindAD {
		var uac int
		fmt.Sscanf(e.GetAttributeValue("userAccountControl"), "%d", &uac)
		p.Disabled = uac&2 != 0
	}
	return p, ""
}

// ldapDate turns the date forms directories use into YYYY-MM-DD or --MM-DD.
func ldapDate(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 8 && !strings.Contains(v, "-") { // GeneralizedTime or YYYYMMDD
		return v[0:4] + "-" + v[4:6] + "-" + v[6:8]
	}
	return v
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

// normDN canonicalises a DN for comparison: parsed, attribute types and
// values lower-cased. An unparsable DN compares as its lower-cased text.
func normDN(dn string) string {
	if simpleDN(dn) {
		return strings.ToLower(dn)
	}
	d, err := ldap.ParseDN(dn)
	if err != nil || d == nil {
		return strings.ToLower(strings.TrimSpace(dn))
	}
	return strings.ToLower(d.String())
}

// simpleDN reports whether dn reads the same once parsed and re-encoded,
// so normDN can skip parsing, which dominates listing 100,000 DNs: printable
// ASCII without characters that need escaping, each RDN a single
// type=value, no spaces next to separators or doubled.
func simpleDN(dn string) bool {
	eq := 0
	for i := 0; i < len(dn); i++ {
		switch c := dn[i]; {
		case c == ',':
			if eq != 1 {
				return false
			}
			eq = 0
		case c == '=':
			eq++
		case c == ' ':
			if i == 0 || i == len(dn)-1 || strings.IndexByte(",= ", dn[i-1]) >= 0 || strings.IndexByte(",= ", dn[i+1]) >= 0 {
				return false
			}
		case c < ' ' || c > '~' || strings.IndexByte("\"+;<>\\#", c) >= 0:
			return false
		}
	}
	return eq == 1
}

// ErrLoginFailed is the one error of Login for any refusal, so callers
// cannot tell an unknown user from a wrong password.
var ErrLoginFailed = errors.New("ldap: login refused")

// Login checks a password by binding as the user: the user's entry is found
// with the service account (the filter built with escaping, in the people
// scope), then a fresh connection binds as that entry. It returns the
// person's directory ID.
func (s *LDAPSource) Login(ctx context.Context, login, password string) (string, error) {
	if login == "" || password == "" || len(login) > 256 {
		// An empty password would be an unauthenticated bind, which succeeds.
		return "", ErrLoginFailed
	}
	var or strings.Builder
	or.WriteString("(|")
	for _, a := range s.cfg.LoginAttributes {
		or.WriteString("(" + a + "=" + ldap.EscapeFilter(login) + ")")
	}
	or.WriteString(")")
	filter := "(&" + s.cfg.PeopleFilter + or.String() + ")"
	type hit struct{ dn, id string }
	var hits []hit
	s.loginMu.Lock()
	err := func() error {
		if s.loginConn == nil || s.loginConn.IsClosing() {
			c, err := s.dial(ctx)
			if err != nil {
				return err
			}
			if s.cfg.BindDN != "" {
				if err := c.Bind(s.cfg.BindDN, s.cfg.Password); err != nil {
					c.Close()
					return fmt.Errorf("ldap: bind as %q: %w", s.cfg.BindDN, err)
				}
			}
			s.loginConn = c
		}
		for _, base := range s.cfg.PeopleBases {
			err := s.search(ctx, s.loginConn, base, s.cfg.PeopleScope, filter, []string{s.cfg.IDAttribute}, func(e *ldap.Entry) error {
				if id, err := s.entryID(e); err == nil && !s.excludedOU(e.DN) {
					hits = append(hits, hit{e.DN, id})
				}
				return nil
			})
			if err != nil {
				s.loginConn.Close()
				s.loginConn = nil
				return err
			}
		}
		return nil
	}()
	s.loginMu.Unlock()
	if err != nil {
		return "", err
	}
	if len(hits) != 1 {
		return "", ErrLoginFailed
	}
	c, err := s.dial(ctx)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.Bind(hits[0].dn, password); err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			return "", ErrLoginFailed
		}
		return "", fmt.Errorf("ldap: bind as user: %w", err)
	}
	return hits[0].id, nil
}
