package directory

import (
	"context"
	"errors"
	"fmt"
	"strings"

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
func (s *LDAPSource) Login(ctx context.Context, login, password string) (string, error) {
	if password == "" {
		// An empty password would be an unauthenticated bind, which succeeds.
		return "", ErrLoginFailed
	}
	filter, domain, ok := s.cfg.loginFilter(login)
	if !ok {
		return "", ErrLoginFailed
	}
	windows := domain != ""
	type hit struct{ dn, id string }
	var hits []hit
	s.loginMu.Lock()
	err := func() error {
		if s.loginConn == nil || s.loginConn.IsClosing() {
			c, err := s.dialService(ctx)
			if err != nil {
				return err
			}
			s.loginConn = c
		}
		if windows {
			name, err := s.netbiosName(s.loginConn)
			if err != nil {
				s.loginConn.Close()
				s.loginConn = nil
				return err
			}
			if !strings.EqualFold(domain, name) {
				return ErrLoginFailed
			}
		}
		for _, base := range s.cfg.PeopleBases {
			err := s.search(ctx, s.loginConn, base, s.cfg.PeopleScope, filter, []string{s.cfg.IDAttribute}, func(e *ldap.Entry) error {
				if id, err := s.cfg.entryID(e); err == nil && !s.excludedOU(e.DN) {
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
		return "", fmt.Errorf("ldap: bind as user: %w", tidy(err))
	}
	return hits[0].id, nil
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
	if err != nil || len(root.Entries) != 1 {
		return "", fmt.Errorf("ldap: read the rootDSE for the domain's NetBIOS name: %w", tidy(err))
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
		if c.Kind != KindAD || d == "" || user == "" {
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
