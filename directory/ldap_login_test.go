package directory

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

var loginConfigs = []*LDAPConfig{
	{Kind: KindLDAP, PeopleFilter: DefaultPeopleFilter(KindLDAP), LoginAttributes: DefaultLoginAttributes(KindLDAP)},
	{Kind: KindAD, PeopleFilter: DefaultPeopleFilter(KindAD), LoginAttributes: DefaultLoginAttributes(KindAD)},
}

func TestLoginNamesBecomeEscapedSearches(t *testing.T) {
	ad := loginConfigs[1]
	cases := []struct {
		cfg           *LDAPConfig
		login, filter string
		domain        string
		ok            bool
	}{
		{loginConfigs[0], "alice", "(&(objectClass=inetOrgPerson)(|(uid=alice)(mail=alice)))", "", true},
		{ad, "alice@example.org", "(&(&(objectCategory=person)(objectClass=user))(|(sAMAccountName=alice@example.org)(userPrincipalName=alice@example.org)))", "", true},
		{ad, `EXAMPLE\alice`, "(&(&(objectCategory=person)(objectClass=user))(|(sAMAccountName=alice)))", "EXAMPLE", true},
		{ad, `EXAMPLE\*)(x=*`, `(&(&(objectCategory=person)(objectClass=user))(|(sAMAccountName=\2a\29\28x=\2a)))`, "EXAMPLE", true},
		{loginConfigs[0], `EXAMPLE\alice`, "", "", false}, // no domains outside AD
		{&LDAPConfig{Kind: KindAD, PeopleFilter: "(objectClass=user)", LoginAttributes: []string{"mail"}}, `EXAMPLE\alice`, "", "", false},
		{ad, `\alice`, "", "", false},
		{ad, `EXAMPLE\`, "", "", false},
		{ad, "", "", "", false},
		{ad, strings.Repeat("a", maxLoginName+1), "", "", false},
	}
	for _, c := range cases {
		filter, domain, ok := c.cfg.loginFilter(c.login)
		if filter != c.filter || domain != c.domain || ok != c.ok {
			t.Errorf("%s login %q: %q %q %v; want %q %q %v", c.cfg.Kind, c.login, filter, domain, ok, c.filter, c.domain, c.ok)
		}
	}
}

// FuzzLoginFilter checks that no login name, however hostile, changes the
// shape of the search: the filter always compiles and matches exactly the
// name asked for.
func FuzzLoginFilter(f *testing.F) {
	for _, s := range []string{"alice", "alice@example.org", `EXAMPLE\alice`, "*", "a)(uid=*", `\5c`, "\x00", `a\b\c`, "é(ü)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, login string) {
		for _, cfg := range loginConfigs {
			filter, domain, ok := cfg.loginFilter(login)
			if !ok {
				continue
			}
			compiled, err := ldap.CompileFilter(filter)
			if err != nil {
				t.Fatalf("login %q gave a filter that does not compile: %q: %v", login, filter, err)
			}
			name := login
			if domain != "" {
				name = login[len(domain)+1:]
			}
			// (& peopleFilter (| (attr=name)...)): every leaf of the OR is an
			// equality on the whole name, nothing else.
			or := compiled.Children[1]
			if or.Tag != ldap.FilterOr || len(or.Children) == 0 {
				t.Fatalf("login %q: %q has no OR of names", login, filter)
			}
			for _, eq := range or.Children {
				if eq.Tag != ldap.FilterEqualityMatch || len(eq.Children) != 2 || eq.Children[1].Data.String() != name {
					t.Fatalf("login %q: %q matches something other than the name", login, filter)
				}
			}
		}
	})
}

func TestOnlyADirectoryThatCannotAnswerIsAnErrorOfTheUsersBind(t *testing.T) {
	cases := []struct {
		name        string
		err         error
		unreachable bool
	}{
		{"wrong password", ldap.NewError(ldap.LDAPResultInvalidCredentials, errors.New("")), false},
		{"389-ds locked account (nsAccountLock)", ldap.NewError(ldap.LDAPResultUnwillingToPerform, errors.New("Account inactivated. Contact system administrator.")), false},
		{"a constraint (ppolicy)", ldap.NewError(ldap.LDAPResultConstraintViolation, errors.New("")), false},
		{"connection lost", ldap.NewError(ldap.ErrorNetwork, io.EOF), true},
		{"server busy", ldap.NewError(ldap.LDAPResultBusy, errors.New("")), true},
		{"server unavailable", ldap.NewError(ldap.LDAPResultUnavailable, errors.New("")), true},
		{"a dial error", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
	}
	for _, c := range cases {
		if got := unreachable(c.err); got != c.unreachable {
			t.Errorf("%s: unreachable %v, want %v", c.name, got, c.unreachable)
		}
	}
}
