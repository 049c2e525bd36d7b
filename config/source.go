package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/orgdav/orgdav/directory"
	"github.com/orgdav/orgdav/store"
)

// Source states.
const (
	StateEnabled = "enabled"
	StateDraft   = "draft"
)

// applyDefaults fills what the kind decides.
func (s *Source) applyDefaults() {
	if s.State == "" {
		s.State = StateEnabled
	}
	if s.Timeout.Duration == 0 {
		s.Timeout.Duration = 30 * time.Second
	}
	if s.PageSize == 0 {
		s.PageSize = 500
	}
	if s.IDAttribute == "" {
		s.IDAttribute = directory.DefaultIDAttribute(s.Kind)
	}
	if len(s.LoginAttributes) == 0 {
		s.LoginAttributes = directory.DefaultLoginAttributes(s.Kind)
	}
	if s.People.Scope == "" {
		s.People.Scope = "sub"
	}
	if s.People.Filter == "" {
		s.People.Filter = directory.DefaultPeopleFilter(s.Kind)
	}
	if s.Groups.Filter == "" {
		s.Groups.Filter = directory.DefaultGroupFilter(s.Kind)
	}
	if s.Kind == directory.KindAD && s.People.HiddenFilter == "" {
		s.People.HiddenFilter = "(msExchHideFromAddressLists=TRUE)"
	}
	if s.Schedule.Interval.Duration == 0 {
		s.Schedule.Interval.Duration = 15 * time.Minute
	}
	if s.Schedule.Incremental == nil {
		s.Schedule.Incremental = &Duration{30 * time.Second}
	}
	if s.MaxRemovalShare == nil {
		v := 0.1
		s.MaxRemovalShare = &v
	}
	if s.RemovalWindow == nil {
		s.RemovalWindow = &Duration{24 * time.Hour}
	}
}

func (s *Source) validate(at string) error {
	bad := func(key, format string, a ...any) error {
		return fmt.Errorf("config: %s.%s: %s", at, key, fmt.Sprintf(format, a...))
	}
	if !directory.ValidSourceName(s.Name) {
		return bad("name", "%q: use 1-32 lower-case letters, digits, - or _ (it is part of every card's identity)", s.Name)
	}
	if s.Name == directory.DemoSource {
		return bad("name", "%q is reserved for the demo organisation", s.Name)
	}
	at = fmt.Sprintf("sources[%s]", s.Name)
	if s.Kind != directory.KindLDAP && s.Kind != directory.KindAD {
		return bad("kind", "%q: want ldap or ad", s.Kind)
	}
	s.applyDefaults()
	if s.State != StateEnabled && s.State != StateDraft {
		return bad("state", "%q: want enabled or draft", s.State)
	}
	u, err := url.Parse(s.URL)
	if err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "" {
		return bad("url", "%q: want ldap://host[:port] or ldaps://host[:port]", s.URL)
	}
	if s.StartTLS && u.Scheme == "ldaps" {
		return bad("start_tls", "not with an ldaps:// url, which is TLS already")
	}
	if s.CAFile != "" {
		if _, err := s.tlsConfig(u.Hostname()); err != nil {
			return bad("ca_file", "%v", err)
		}
	}
	if s.TLSServerName != "" && (u.Scheme != "ldaps" && !s.StartTLS) {
		return bad("tls_server_name", "only with an ldaps:// url or start_tls")
	}
	if strings.ContainsAny(s.TLSServerName, " /:") {
		return bad("tls_server_name", "%q: want a host name as the certificate names it, e.g. dc1.example.org", s.TLSServerName)
	}
	set := 0
	for _, v := range []string{s.BindPassword, s.BindPasswordEnv, s.BindPasswordFile} {
		if v != "" {
			set++
		}
	}
	if set > 1 {
		return bad("bind_password", "set only one of bind_password, bind_password_env, bind_password_file")
	}
	// The password itself is read when the source is opened (LDAP): the
	// commands that only talk to a running server do not need it.
	if s.BindDN != "" && !(s.Kind == directory.KindAD && adAccountName(s.BindDN)) {
		if _, err := ldap.ParseDN(s.BindDN); err != nil {
			return bad("bind_dn", "%q: %v (want a DN; on AD also name@domain or DOMAIN\\name)", s.BindDN, err)
		}
	}
	if s.Timeout.Duration <= 0 || s.Timeout.Duration > 10*time.Minute {
		return bad("timeout", "must be between 1s and 10m")
	}
	if s.PageSize < 1 || s.PageSize > 10000 {
		return bad("page_size", "%d: want 1 to 10000", s.PageSize)
	}
	if len(s.People.BaseDNs) == 0 {
		return bad("people.base_dns", "at least one base DN is needed")
	}
	for _, list := range []struct {
		key string
		dns []string
	}{{"people.base_dns", s.People.BaseDNs}, {"people.exclude_ous", s.People.ExcludeOUs}, {"people.include_groups", s.People.IncludeGroups},
		{"people.exclude_groups", s.People.ExcludeGroups}, {"groups.base_dns", s.Groups.BaseDNs}} {
		if err := checkDNs(list.dns); err != nil {
			return bad(list.key, "%v", err)
		}
	}
	if (len(s.People.IncludeGroups) > 0 || len(s.People.ExcludeGroups) > 0) && len(s.Groups.BaseDNs) == 0 {
		return bad("groups.base_dns", "needed to resolve people.include_groups / exclude_groups")
	}
	if s.People.IncludeContacts && s.Kind != directory.KindAD {
		return bad("people.include_contacts", "only for kind ad")
	}
	if s.People.Scope != "sub" && s.People.Scope != "one" {
		return bad("people.scope", "%q: want sub or one", s.People.Scope)
	}
	for key, f := range map[string]string{"people.filter": s.People.Filter, "people.hidden_filter": s.People.HiddenFilter,
		"people.disabled_filter": s.People.DisabledFilter, "groups.filter": s.Groups.Filter} {
		if f == "" {
			continue
		}
		if _, err := ldap.CompileFilter(f); err != nil {
			return bad(key, "%q: %v", f, err)
		}
	}
	for field := range s.Mapping {
		if !slices.Contains(directory.MappingFields, field) {
			return bad("mapping."+field, "unknown contact field (known: %s)", strings.Join(directory.MappingFields, ", "))
		}
	}
	if s.Schedule.Interval.Duration < time.Minute {
		return bad("schedule.interval", "must be at least 1m")
	}
	if inc := s.Schedule.Incremental.Duration; inc != 0 && (inc < 5*time.Second || inc >= s.Schedule.Interval.Duration) {
		return bad("schedule.incremental", "must be 0s (off) or between 5s and schedule.interval")
	}
	if *s.MaxRemovalShare < 0 || *s.MaxRemovalShare > 1 {
		return bad("max_removal_share", "%v: want 0 to 1", *s.MaxRemovalShare)
	}
	if w := s.RemovalWindow.Duration; w < time.Minute || w > store.RemovalHistory {
		// Removals always add up: max_removal_share 1 allows any.
		return bad("removal_window", "%v: want 1m to %dd (to allow any removal, set max_removal_share: 1)", w, store.RemovalHistory/(24*time.Hour))
	}
	return nil
}

// adAccountName reports whether s is one of the names AD binds by besides
// a DN: a userPrincipalName (name@domain) or a down-level name
// (DOMAIN\name).
func adAccountName(s string) bool {
	if strings.Contains(s, "=") {
		return false
	}
	if name, domain, ok := strings.Cut(s, "@"); ok {
		return name != "" && domain != "" && !strings.Contains(domain, "@")
	}
	domain, name, ok := strings.Cut(s, `\`)
	return ok && domain != "" && name != ""
}

// checkDNs checks a list of DNs. An unquoted DN in a YAML flow list
// ([ou=people,dc=example,dc=org]) is split at its commas into entries
// that each parse: an entry whose only component is a dc= or o= (the
// parts that end a DN) right after one that does not end with such a
// component ("ou=people") is taken for such a split.
func checkDNs(dns []string) error {
	var prev *ldap.DN
	for i, dn := range dns {
		parsed, err := ldap.ParseDN(dn)
		if err != nil || strings.TrimSpace(dn) == "" {
			return fmt.Errorf("%q is not a DN", dn)
		}
		if prev != nil && len(parsed.RDNs) == 1 && suffixRDN(parsed.RDNs[0]) && !suffixRDN(prev.RDNs[len(prev.RDNs)-1]) {
			return fmt.Errorf("%q looks like the end of the DN before it (%q), split at its commas: YAML splits an unquoted [a,b,c] list at every comma; quote each DN, as in [\"ou=people,dc=example,dc=org\"], or write one per line", dn, dns[i-1])
		}
		prev = parsed
	}
	return nil
}

// suffixRDN reports whether an RDN is a dc= or o= component.
func suffixRDN(rdn *ldap.RelativeDN) bool {
	for _, a := range rdn.Attributes {
		if !strings.EqualFold(a.Type, "dc") && !strings.EqualFold(a.Type, "o") {
			return false
		}
	}
	return len(rdn.Attributes) > 0
}

// Password reads the bind password from where the config says; an error
// names the key.
func (s *Source) Password() (string, error) {
	bad := func(key, format string, a ...any) error {
		return fmt.Errorf("config: sources[%s].%s: %s", s.Name, key, fmt.Sprintf(format, a...))
	}
	switch {
	case s.BindPasswordEnv != "":
		v := os.Getenv(s.BindPasswordEnv)
		if v == "" {
			return "", bad("bind_password_env", "environment variable %s is empty or unset", s.BindPasswordEnv)
		}
		return v, nil
	case s.BindPasswordFile != "":
		b, err := os.ReadFile(s.BindPasswordFile)
		if err != nil {
			return "", bad("bind_password_file", "%v", err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", bad("bind_password_file", "%s is empty", s.BindPasswordFile)
		}
		return v, nil
	}
	if s.BindPassword == "" {
		return "", bad("bind_password", "a bind_dn needs a password (bind_password, bind_password_env or bind_password_file)")
	}
	return s.BindPassword, nil
}

func (s *Source) tlsConfig(host string) (*tls.Config, error) {
	if s.TLSServerName != "" {
		host = s.TLSServerName
	}
	tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12, InsecureSkipVerify: s.InsecureSkipVerify}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", s.CAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// LDAP builds the directory source's configuration.
func (s *Source) LDAP() (directory.LDAPConfig, error) {
	u, err := url.Parse(s.URL)
	if err != nil {
		return directory.LDAPConfig{}, err
	}
	tc, err := s.tlsConfig(u.Hostname())
	if err != nil {
		return directory.LDAPConfig{}, err
	}
	pass := ""
	if s.BindDN != "" {
		if pass, err = s.Password(); err != nil {
			return directory.LDAPConfig{}, err
		}
	}
	mapping := directory.DefaultMapping(s.Kind)
	for k, v := range s.Mapping {
		mapping[k] = v
	}
	scope := ldap.ScopeWholeSubtree
	if s.People.Scope == "one" {
		scope = ldap.ScopeSingleLevel
	}
	return directory.LDAPConfig{
		Name: s.Name, Kind: s.Kind, URL: s.URL, StartTLS: s.StartTLS, TLS: tc, BindDN: s.BindDN, Password: pass,
		Timeout: s.Timeout.Duration, PageSize: s.PageSize,
		PeopleBases: s.People.BaseDNs, PeopleScope: scope, PeopleFilter: s.People.Filter,
		GroupBases: s.Groups.BaseDNs, GroupFilter: s.Groups.Filter, ExcludeOUs: s.People.ExcludeOUs,
		IncludeGroups: s.People.IncludeGroups, ExcludeGroups: s.People.ExcludeGroups,
		HiddenFilter: s.People.HiddenFilter, DisabledFilter: s.People.DisabledFilter, IncludeContacts: s.People.IncludeContacts,
		IDAttribute: s.IDAttribute, LoginAttributes: s.LoginAttributes, Mapping: mapping,
	}, nil
}
