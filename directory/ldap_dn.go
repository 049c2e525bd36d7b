package directory

import (
	"strings"

	"github.com/go-ldap/ldap/v3"
)

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
