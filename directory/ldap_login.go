package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// ErrLoginFailed is the one error of Login for any refusal, so callers
// cannot tell an unknown user from a wrong password.
var ErrLoginFailed = errors.New("ldap: login refused")

// Login checks a password by binding as the user: the user's entry is found
// with the service account (the filter built with escaping, in the people
// scope), then a fresh connection binds as that entry. It returns the
// person's directory ID. On AD the Windows form DOMAIN\user works too, for
// the domain's NetBIOS name.
//
// Any answer of the directory to the user's bind other than success is a
// refusal (a wrong password, and also a locked, expired or inactivated
// account); only a directory that cannot be reached or asked is an error,
// which callers may ride out with a recently verified login.
func (s *LDAPSource) Login(ctx context.Context, login, password string) (string, error) {
	if password == "" {
		// An empty password would be an unauthenticated bind, which succeeds.
		return "", ErrLoginFailed
	}
	filter, domain, ok := s.cfg.loginFilter(login)
	if !ok {
		return "", ErrLoginFailed
	}
	dn, id, err := s.findLogin(ctx, filter, domain)
	if err != nil {
		return "", err
	}
	c, err := s.dial(ctx, s.loginTimeout())
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.Bind(dn, password); err != nil {
		if unreachable(err) {
			return "", fmt.Errorf("ldap: bind as user: %w", tidy(err))
		}
		return "", ErrLoginFailed
	}
	return id, nil
}

// loginTimeout bounds each step of a login: a phone waits for it, and a
// directory that does not answer must not keep it waiting for the run's
// timeout.
func (s *LDAPSource) loginTimeout() time.Duration { return min(s.cfg.Timeout, 10*time.Second) }

// loginRetry is how long logins fail at once after the look-up connection
// could not be opened, so requests do not queue behind one another, each
// waiting for a directory that does not answer.
const loginRetry = 5 * time.Second

// findLogin finds the one entry a login names, on the look-up connection.
func (s *LDAPSource) findLogin(ctx context.Context, filter, domain string) (dn, id string, err error) {
	s.loginMu.Lock()
	defer s.loginMu.Unlock()
	if s.loginConn == nil || s.loginConn.IsClosing() {
		if time.Now().Before(s.loginDown.until) {
			return "", "", s.loginDown.err
		}
		c, err := s.dialService(ctx, s.loginTimeout())
		if err != nil {
			s.loginDown.until, s.loginDown.err = time.Now().Add(loginRetry), err
			return "", "", err
		}
		s.loginConn = c
	}
	drop := func(err error) (string, string, error) {
		s.loginConn.Close()
		s.loginConn = nil
		return "", "", err
	}
	if domain != "" {
		name, err := s.netbiosName(s.loginConn)
		if err != nil {
			return drop(err)
		}
		if !strings.EqualFold(domain, name) {
			return "", "", ErrLoginFailed
		}
	}
	hits := 0
	for _, base := range s.cfg.PeopleBases {
		err := s.search(ctx, s.loginConn, base, s.cfg.PeopleScope, filter, []string{s.cfg.IDAttribute}, func(e *ldap.Entry) error {
			if eid, err := s.cfg.entryID(e); err == nil && !s.excludedOU(e.DN) {
				dn, id = e.DN, eid
				hits++
			}
			return nil
		})
		if err != nil {
			return drop(err)
		}
	}
	if hits != 1 {
		return "", "", ErrLoginFailed
	}
	return dn, id, nil
}

// unreachable reports whether an LDAP error means the server could not be
// reached or could not answer, rather than answering.
func unreachable(err error) bool {
	var le *ldap.Error
	return !errors.As(err, &le) || ldap.IsErrorAnyOf(err, ldap.ErrorNetwork, ldap.LDAPResultBusy, ldap.LDAPResultUnavailable,
		ldap.LDAPResultTimeLimitExceeded, ldap.LDAPResultTimeout)
}

// netbiosName returns the domain's NetBIOS name (EXAMPLE in EXAMPLE\alice),
// which AD keeps on the domain's crossRef in the configuration partition.
// It is read once; the caller holds loginMu.
func (s *LDAPSource) netbiosName(c *ldap.Conn) (string, error) {
	if s.netbios != "" {
		return s.netbios, nil
	}
	root, err := c.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, int(s.cfg.Timeout.Seconds()), false,
		"(objectClass=*)", []string{"defaultNamingContext", "configurationNamingContext"}, nil))
	if err != nil {
		return "", fmt.Errorf("ldap: read the rootDSE for the domain's NetBIOS name: %w", tidy(err))
	}
	if len(root.Entries) != 1 {
		return "", errors.New("ldap: the rootDSE cannot be read: DOMAIN\\user logins cannot be checked")
	}
	domainNC, configNC := root.Entries[0].GetAttributeValue("defaultNamingContext"), root.Entries[0].GetAttributeValue("configurationNamingContext")
	res, err := c.Search(ldap.NewSearchRequest("CN=Partitions,"+configNC, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 2, int(s.cfg.Timeout.Seconds()), false,
		"(&(objectClass=crossRef)(nCName="+ldap.EscapeFilter(domainNC)+")(nETBIOSName=*))", []string{"nETBIOSName"}, nil))
	if err != nil {
		return "", fmt.Errorf("ldap: read the domain's NetBIOS name under %q: %w", "CN=Partitions,"+configNC, tidy(err))
	}
	if len(res.Entries) != 1 {
		return "", fmt.Errorf("ldap: no NetBIOS name for %q under %q: DOMAIN\\user logins cannot be checked", domainNC, "CN=Partitions,"+configNC)
	}
	s.netbios = res.Entries[0].GetAttributeValue("nETBIOSName")
	return s.netbios, nil
}

// maxLoginName bounds what a login name may be; longer ones are refused
// before anything is asked of the directory.
const maxLoginName = 256

// loginFilter builds the search for a login name, the name escaped, and
// the NetBIOS domain the name must belong to for a DOMAIN\user login on AD
// (else ""). It reports false for a name that cannot be anyone's.
func (c *LDAPConfig) loginFilter(login string) (filter, domain string, ok bool) {
	if login == "" || len(login) > maxLoginName {
		return "", "", false
	}
	attrs := c.LoginAttributes
	if d, user, windows := strings.Cut(login, `\`); windows {
		// The down-level form names a sAMAccountName: only where that is a
		// login attribute.
		if c.Kind != KindAD || d == "" || user == "" || !slices.ContainsFunc(attrs, func(a string) bool { return strings.EqualFold(a, "sAMAccountName") }) {
			return "", "", false
		}
		domain, login, attrs = d, user, []string{"sAMAccountName"}
	}
	var or strings.Builder
	or.WriteString("(|")
	for _, a := range attrs {
		or.WriteString("(" + a + "=" + ldap.EscapeFilter(login) + ")")
	}
	or.WriteString(")")
	return "(&" + c.PeopleFilter + or.String() + ")", domain, true
}
