package directory

import (
	"crypto/tls"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"
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
		// ou names the department on a person entry ("Engineering");
		// departmentNumber often holds a code ("D300") no reader expects.
		m["department"], m["organization"] = "ou", "o"
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
	return []string{"uid", "mail"}
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
	netbios   string     // AD's NetBIOS domain name, for DOMAIN\user logins; guarded by loginMu
	loginDown struct {   // the look-up connection failed: logins fail at once until then
		until time.Time
		err   error
	}

	state  *state // the last read, guarded by mu
	useCSN bool   // the server keeps entryCSN (OpenLDAP); set by a full read

	groupDNs atomic.Pointer[map[string]string] // normalised DN -> group ID, as of the last build

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

// GroupID returns the ID of the group a DN names, as of the last read:
// configuration names groups by DN, the store keeps them by ID.
func (s *LDAPSource) GroupID(dn string) (string, bool) {
	m := s.groupDNs.Load()
	if m == nil {
		return "", false
	}
	id, ok := (*m)[normDN(dn)]
	return id, ok
}

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
