package directory

import (
	"fmt"
	"sort"
	"strings"

	"github.com/go-ldap/ldap/v3"
	"github.com/google/uuid"
)

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

func (s *LDAPSource) groupAttributes() []string {
	return []string{s.cfg.IDAttribute, "cn", "displayName", "member", "uniqueMember", "memberUid", s.markerAttr()}
}

// entryID reads the stable identifier. objectGUID is stored mixed-endian:
// the first three fields are little-endian, so they are swapped to give
// the canonical string AD tools show.
func (c *LDAPConfig) entryID(e *ldap.Entry) (string, error) {
	attr := c.IDAttribute
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

func (c *LDAPConfig) attr(e *ldap.Entry, field string) string {
	if a := c.Mapping[field]; a != "" {
		return e.GetEqualFoldAttributeValue(a)
	}
	return ""
}

func (c *LDAPConfig) attrs(e *ldap.Entry, field string) []string {
	if a := c.Mapping[field]; a != "" {
		return e.GetEqualFoldAttributeValues(a)
	}
	return nil
}

// mapPerson maps one entry; it returns a reason when the entry cannot be
// a person at all, and why a photo was dropped. Invalid values are dropped
// later by Normalize, with a reason each. intern returns the one copy kept
// of a value many people share.
func (c *LDAPConfig) mapPerson(e *ldap.Entry, intern func(string) string) (p rawPerson, skip string, photoErr error) {
	id, err := c.entryID(e)
	if err != nil {
		return rawPerson{}, "no usable identifier: " + err.Error(), nil
	}
	p = rawPerson{dn: e.DN}
	if m := c.attr(e, "manager"); m != "" {
		p.managerDN = intern(normDN(m))
	}
	p.ID = id
	for _, a := range c.LoginAttributes {
		if v := e.GetEqualFoldAttributeValue(a); v != "" {
			p.Username = v
			break
		}
	}
	p.GivenName = c.attr(e, "given_name")
	p.FamilyName = c.attr(e, "family_name")
	p.DisplayName = c.attr(e, "display_name")
	if p.DisplayName == "" && p.GivenName == "" {
		// cn is the full name ("Zoë Neumann"): better than sn alone, which
		// is all given and family names would make of it.
		p.DisplayName = e.GetAttributeValue("cn")
	}
	p.Emails = c.attrs(e, "email")
	for _, ph := range []struct {
		field string
		kind  PhoneKind
	}{{"work_phone", PhoneWork}, {"mobile", PhoneMobile}, {"home_phone", PhoneHome}, {"fax", PhoneFax}} {
		for _, n := range c.attrs(e, ph.field) {
			p.Phones = append(p.Phones, Phone{Kind: ph.kind, Number: n})
		}
	}
	p.Title = intern(c.attr(e, "title"))
	p.Department = intern(c.attr(e, "department"))
	p.Company = intern(c.attr(e, "organization"))
	p.Office = intern(c.attr(e, "office"))
	addr := Address{Street: intern(c.attr(e, "street")), City: intern(c.attr(e, "city")), Region: intern(c.attr(e, "region")),
		PostalCode: intern(c.attr(e, "postal_code")), Country: intern(c.attr(e, "country"))}
	if addr != (Address{}) {
		p.Address = &addr
	}
	p.Website = c.attr(e, "website")
	if c.Mapping["website"] == "labeledURI" {
		p.Website, _, _ = strings.Cut(p.Website, " ")
	}
	p.Notes = c.attr(e, "notes")
	p.IMs = c.attrs(e, "im")
	p.Birthday = ldapDate(c.attr(e, "birthday"))
	p.EmployeeID = c.attr(e, "employee_id")
	if a := c.Mapping["photo"]; a != "" {
		if raw := e.GetEqualFoldRawAttributeValue(a); len(raw) > 0 {
			p.Photo, photoErr = ProcessPhoto(raw)
		}
	}
	if c.Kind == KindAD {
		var uac int
		fmt.Sscanf(e.GetAttributeValue("userAccountControl"), "%d", &uac)
		p.Disabled = uac&2 != 0
	}
	return p, "", photoErr
}

// ldapDate turns the date forms directories use into YYYY-MM-DD or --MM-DD.
func ldapDate(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 8 && !strings.Contains(v, "-") { // GeneralizedTime or YYYYMMDD
		return v[0:4] + "-" + v[4:6] + "-" + v[6:8]
	}
	return v
}
