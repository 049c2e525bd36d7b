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
			c, err := s.dialService(ctx)
			if err != nil {
				return err
			}
			s.loginConn = c
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
		return "", fmt.Errorf("ldap: bind as user: %w", err)
	}
	return hits[0].id, nil
}
