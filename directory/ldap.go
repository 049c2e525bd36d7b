package directory

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
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
	"manager", "website", "notes", "birthday", "employee_id", "photo",
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
	paging := ldap.NewControlPaging(uint32(s.cfg.PageSize))
	for page := 0; ; page++ {
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

// rawPerson is an entry before the whole snapshot is known: its manager
// and group memberships are still DNs.
type rawPerson struct {
	Person
	dn        string
	managerDN string
}

// Snapshot reads every person and group in scope. Any failure (connect,
// bind, search, timeout) fails the whole run, so a partial read is never
// applied; a bad value in one entry is skipped and reported instead.
func (s *LDAPSource) Snapshot(ctx context.Context) (Snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	snap, err := s.snapshot(ctx)
	if err != nil && s.conn != nil {
		// A broken connection must not serve the next run.
		s.conn.Close()
		s.conn = nil
	}
	return snap, err
}

func (s *LDAPSource) snapshot(ctx context.Context) (Snapshot, error) {
	c, err := s.service(ctx)
	if err != nil {
		return Snapshot{}, err
	}
	snap := Snapshot{Source: s.cfg.Name}
	var people []rawPerson
	byDN := map[string]int{}
	attrs := s.personAttributes()
	for _, base := range s.cfg.PeopleBases {
		err := s.search(ctx, c, base, s.cfg.PeopleScope, s.cfg.PeopleFilter, attrs, func(e *ldap.Entry) error {
			if s.excludedOU(e.DN) {
				snap.Skips = append(snap.Skips, Skip{ID: e.DN, Reason: "in an excluded OU"})
				return nil
			}
			p, skip := s.mapPerson(e)
			if skip != "" {
				snap.Skips = append(snap.Skips, Skip{ID: e.DN, Reason: skip})
				return nil
			}
			key := normDN(e.DN)
			if _, dup := byDN[key]; dup {
				return nil // overlapping bases
			}
			byDN[key] = len(people)
			people = append(people, p)
			return nil
		})
		if err != nil {
			return Snapshot{}, err
		}
	}
	for _, f := range []struct {
		filter string
		mark   func(*rawPerson)
	}{
		{s.cfg.HiddenFilter, func(p *rawPerson) { p.Hidden = true }},
		{s.cfg.DisabledFilter, func(p *rawPerson) { p.Disabled = true }},
	} {
		if f.filter == "" {
			continue
		}
		filter := "(&" + s.cfg.PeopleFilter + f.filter + ")"
		for _, base := range s.cfg.PeopleBases {
			err := s.search(ctx, c, base, s.cfg.PeopleScope, filter, []string{"1.1"}, func(e *ldap.Entry) error {
				if i, ok := byDN[normDN(e.DN)]; ok {
					f.mark(&people[i])
				}
				return nil
			})
			if err != nil {
				return Snapshot{}, err
			}
		}
	}
	groups, groupByDN, err := s.readGroups(ctx, c, people, byDN)
	if err != nil {
		return Snapshot{}, err
	}
	for i := range people {
		if m, ok := byDN[normDN(people[i].managerDN)]; ok {
			people[i].ManagerID = people[m].ID
		}
	}
	keep := s.groupScope(groups, groupByDN)
	for i := range people {
		p := &people[i]
		if keep != nil && !keep(p.ID) {
			snap.Skips = append(snap.Skips, Skip{ID: p.dn, Reason: "outside the include/exclude groups"})
			continue
		}
		snap.People = append(snap.People, p.Person)
	}
	snap.Groups = groups
	return snap, nil
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
func (s *LDAPSource) mapPerson(e *ldap.Entry) (rawPerson, string) {
	id, err := s.entryID(e)
	if err != nil {
		return rawPerson{}, "no usable identifier: " + err.Error()
	}
	p := rawPerson{dn: e.DN, managerDN: s.attr(e, "manager")}
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
	p.Title = s.attr(e, "title")
	p.Department = s.attr(e, "department")
	p.Company = s.attr(e, "organization")
	p.Office = s.attr(e, "office")
	addr := Address{Street: s.attr(e, "street"), City: s.attr(e, "city"), Region: s.attr(e, "region"),
		PostalCode: s.attr(e, "postal_code"), Country: s.attr(e, "country")}
	if addr != (Address{}) {
		p.Address = &addr
	}
	p.Website = s.attr(e, "website")
	if s.cfg.Mapping["website"] == "labeledURI" {
		p.Website, _, _ = strings.Cut(p.Website, " ")
	}
	p.Notes = s.attr(e, "notes")
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

// readGroups reads groups and resolves member DNs (member, uniqueMember)
// and memberUid values to person and group IDs. Members outside the
// snapshot are dangling and dropped.
func (s *LDAPSource) readGroups(ctx context.Context, c *ldap.Conn, people []rawPerson, byDN map[string]int) ([]Group, map[string]string, error) {
	if len(s.cfg.GroupBases) == 0 {
		return nil, nil, nil
	}
	type rawGroup struct {
		g       Group
		members []string
		uids    []string
	}
	var raws []rawGroup
	groupByDN := map[string]string{}
	attrs := []string{s.cfg.IDAttribute, "cn", "displayName", "member", "uniqueMember", "memberUid"}
	for _, base := range s.cfg.GroupBases {
		err := s.search(ctx, c, base, ldap.ScopeWholeSubtree, s.cfg.GroupFilter, attrs, func(e *ldap.Entry) error {
			id, err := s.entryID(e)
			if err != nil {
				s.log.Warn("group skipped", "dn", e.DN, "err", err)
				return nil
			}
			name := e.GetAttributeValue("displayName")
			if name == "" {
				name = e.GetAttributeValue("cn")
			}
			rg := rawGroup{g: Group{ID: id, Name: name}, uids: e.GetAttributeValues("memberUid")}
			rg.members = append(e.GetAttributeValues("member"), e.GetAttributeValues("uniqueMember")...)
			groupByDN[normDN(e.DN)] = id
			raws = append(raws, rg)
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
	}
	byUID := map[string]string{}
	for i := range people {
		if people[i].Username != "" {
			byUID[strings.ToLower(people[i].Username)] = people[i].ID
		}
	}
	groups := make([]Group, 0, len(raws))
	for _, rg := range raws {
		for _, m := range rg.members {
			m, _, _ = strings.Cut(m, "#") // uniqueMember's optional "#'0101'B" suffix
			n := normDN(m)
			if i, ok := byDN[n]; ok {
				rg.g.Members = append(rg.g.Members, people[i].ID)
			} else if gid, ok := groupByDN[n]; ok {
				rg.g.Subgroups = append(rg.g.Subgroups, gid)
			}
		}
		for _, u := range rg.uids {
			if id, ok := byUID[strings.ToLower(u)]; ok {
				rg.g.Members = append(rg.g.Members, id)
			}
		}
		groups = append(groups, rg.g)
	}
	return groups, groupByDN, nil
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
	d, err := ldap.ParseDN(dn)
	if err != nil || d == nil {
		return strings.ToLower(strings.TrimSpace(dn))
	}
	return strings.ToLower(d.String())
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
