package directory

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

// entry builds an LDAP entry from attribute=value pairs, as a search
// returns it.
func entry(dn string, pairs ...string) *ldap.Entry {
	attrs := map[string][]string{}
	var order []string
	for i := 0; i+1 < len(pairs); i += 2 {
		if _, ok := attrs[pairs[i]]; !ok {
			order = append(order, pairs[i])
		}
		attrs[pairs[i]] = append(attrs[pairs[i]], pairs[i+1])
	}
	e := &ldap.Entry{DN: dn}
	for _, a := range order {
		e.Attributes = append(e.Attributes, ldap.NewEntryAttribute(a, attrs[a]))
	}
	return e
}

func TestMapPersonFromLiteralEntries(t *testing.T) {
	ldapCfg := &LDAPConfig{Kind: KindLDAP, IDAttribute: "entryUUID", LoginAttributes: DefaultLoginAttributes(KindLDAP), Mapping: DefaultMapping(KindLDAP)}
	adCfg := &LDAPConfig{Kind: KindAD, IDAttribute: "objectGUID", LoginAttributes: DefaultLoginAttributes(KindAD), Mapping: DefaultMapping(KindAD)}
	guid, _ := hex.DecodeString("78563412341278569abcdef012345678")
	const id = "0f1d6c5e-8a49-5b6a-9c1e-6f7267646176"
	cases := []struct {
		name  string
		cfg   *LDAPConfig
		entry *ldap.Entry
		check func(p rawPerson) bool
	}{
		{"cn names a person who has sn but no givenName or displayName", ldapCfg,
			entry("uid=zn,ou=people,dc=ex", "entryUUID", id, "uid", "zn", "cn", "Zoë Neumann", "sn", "Neumann"),
			func(p rawPerson) bool { return p.DisplayName == "Zoë Neumann" && p.FamilyName == "Neumann" }},
		{"given and family names make the name when displayName is missing", ldapCfg,
			entry("uid=a,dc=ex", "entryUUID", id, "cn", "A. Martin", "givenName", "Alice", "sn", "Martin"),
			func(p rawPerson) bool { return p.DisplayName == "" && p.GivenName == "Alice" }},
		{"displayName wins over cn", ldapCfg,
			entry("uid=a,dc=ex", "entryUUID", id, "cn", "amartin", "displayName", "Alice Martin"),
			func(p rawPerson) bool { return p.DisplayName == "Alice Martin" }},
		{"the department is the ou attribute, not departmentNumber's code", ldapCfg,
			entry("uid=a,dc=ex", "entryUUID", id, "cn", "A", "ou", "Engineering", "departmentNumber", "D300"),
			func(p rawPerson) bool { return p.Department == "Engineering" }},
		{"the user name is uid, else mail", ldapCfg,
			entry("cn=a,dc=ex", "entryUUID", id, "cn", "A", "mail", "a@ex.org"),
			func(p rawPerson) bool { return p.Username == "a@ex.org" }},
		{"labeledURI loses its label; the id is lower-cased", ldapCfg,
			entry("uid=a,dc=ex", "entryUUID", strings.ToUpper(id), "cn", "A", "labeledURI", "https://ex.org/a My page"),
			func(p rawPerson) bool { return p.Website == "https://ex.org/a" && p.ID == id }},
		{"AD: the GUID is canonical and userAccountControl bit 2 disables", adCfg,
			entry("CN=b,DC=ex", "objectGUID", string(guid), "sAMAccountName", "b", "displayName", "B", "userAccountControl", "514", "department", "Sales"),
			func(p rawPerson) bool {
				return p.ID == "12345678-1234-5678-9abc-def012345678" && p.Disabled && p.Username == "b" && p.Department == "Sales"
			}},
		{"AD: manager DN kept normalised for resolution", adCfg,
			entry("CN=b,DC=ex", "objectGUID", string(guid), "cn", "B", "manager", "CN=Boss,OU=Staff,DC=ex"),
			func(p rawPerson) bool { return p.managerDN == "cn=boss,ou=staff,dc=ex" }},
	}
	same := func(v string) string { return v }
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, skip, err := c.cfg.mapPerson(c.entry, same)
			if skip != "" || err != nil || !c.check(p) {
				t.Fatalf("skip %q, photo error %v, person %+v", skip, err, p)
			}
		})
	}
	if _, skip, _ := ldapCfg.mapPerson(entry("uid=x,dc=ex", "cn", "No Id"), same); !strings.Contains(skip, "entryUUID") {
		t.Errorf("an entry without its id is not skipped with the reason: %q", skip)
	}
}
