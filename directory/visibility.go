package directory

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Field is a contact field whose visibility is ruled. Names (FN, N) are not
// ruled: a card without a name is useless, so every viewer sees them.
type Field uint8

const (
	FieldEmail Field = iota
	FieldWorkPhone
	FieldMobile
	FieldHomePhone
	FieldFax
	FieldTitle
	FieldDepartment
	FieldOrganization
	FieldOffice
	FieldAddress
	FieldManager
	FieldPhoto
	FieldBirthday
	FieldNotes
	FieldWebsite
	FieldEmployeeID
	FieldIM
	numFields
)

var fieldNames = [numFields]string{
	"email", "work_phone", "mobile", "home_phone", "fax", "title", "department",
	"organization", "office", "address", "manager", "photo", "birthday", "notes",
	"website", "employee_id", "im",
}

func (f Field) String() string { return fieldNames[f] }

// Fields lists every ruled field in a fixed order.
func Fields() []Field {
	fs := make([]Field, numFields)
	for i := range fs {
		fs[i] = Field(i)
	}
	return fs
}

// ParseField maps a config name to a Field.
func ParseField(name string) (Field, bool) {
	for i, n := range fieldNames {
		if n == name {
			return Field(i), true
		}
	}
	return 0, false
}

// FieldSet is a set of fields as a bit mask.
type FieldSet uint32

// Has reports whether f is in the set.
func (s FieldSet) Has(f Field) bool { return s&(1<<f) != 0 }

// With returns the set plus f.
func (s FieldSet) With(f Field) FieldSet { return s | 1<<f }

// AllFields holds every ruled field.
const AllFields = FieldSet(1<<numFields - 1)

// Audience says who may see a field.
type Audience string

const (
	Everyone       Audience = "everyone"
	SameDepartment Audience = "same-department"
	SameGroup      Audience = "same-group"
	Managers       Audience = "managers" // viewers who have at least one direct report
	Nobody         Audience = "nobody"
)

// Audiences lists the valid audiences, for validation messages.
var Audiences = []Audience{Everyone, SameDepartment, SameGroup, Managers, Nobody}

// Relation is what decides an audience: how a viewer relates to a person.
type Relation struct {
	SameDepartment bool
	SameGroup      bool
	ViewerManager  bool
}

// Rules maps each field to its audience.
type Rules struct {
	audience [numFields]Audience
	masks    [8]FieldSet // by relation bits, precomputed
	uses     map[Audience]bool
}

// DefaultAudiences is the shipped default: work contact data for everyone,
// mobiles for the department, private data for nobody.
var DefaultAudiences = map[Field]Audience{
	FieldEmail:        Everyone,
	FieldWorkPhone:    Everyone,
	FieldMobile:       SameDepartment,
	FieldHomePhone:    Nobody,
	FieldFax:          Everyone,
	FieldTitle:        Everyone,
	FieldDepartment:   Everyone,
	FieldOrganization: Everyone,
	FieldOffice:       Everyone,
	FieldAddress:      Managers,
	FieldManager:      Everyone,
	FieldPhoto:        Everyone,
	FieldBirthday:     SameGroup,
	FieldNotes:        Nobody,
	FieldWebsite:      Everyone,
	FieldEmployeeID:   Managers,
	FieldIM:           Everyone,
}

// NewRules builds rules from overrides on top of DefaultAudiences.
func NewRules(overrides map[Field]Audience) (*Rules, error) {
	r := &Rules{uses: map[Audience]bool{}}
	for f := Field(0); f < numFields; f++ {
		a := DefaultAudiences[f]
		if o, ok := overrides[f]; ok {
			a = o
		}
		if !validAudience(a) {
			return nil, fmt.Errorf("visibility: field %s: unknown audience %q (want one of %s)", f, a, audienceList())
		}
		r.audience[f] = a
		r.uses[a] = true
	}
	for bits := range 8 {
		rel := Relation{SameDepartment: bits&1 != 0, SameGroup: bits&2 != 0, ViewerManager: bits&4 != 0}
		var m FieldSet
		for f := Field(0); f < numFields; f++ {
			if granted(r.audience[f], rel) {
				m = m.With(f)
			}
		}
		r.masks[bits] = m
	}
	return r, nil
}

func validAudience(a Audience) bool {
	for _, v := range Audiences {
		if v == a {
			return true
		}
	}
	return false
}

func audienceList() string {
	s := make([]string, len(Audiences))
	for i, a := range Audiences {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}

func granted(a Audience, rel Relation) bool {
	switch a {
	case Everyone:
		return true
	case SameDepartment:
		return rel.SameDepartment
	case SameGroup:
		return rel.SameGroup
	case Managers:
		return rel.ViewerManager
	}
	return false
}

// Audience returns the audience of f.
func (r *Rules) Audience(f Field) Audience { return r.audience[f] }

// Uses reports whether any field has audience a.
func (r *Rules) Uses(a Audience) bool { return r.uses[a] }

// Mask returns the fields granted for a relation.
func (r *Rules) Mask(rel Relation) FieldSet {
	bits := 0
	if rel.SameDepartment {
		bits |= 1
	}
	if rel.SameGroup {
		bits |= 2
	}
	if rel.ViewerManager {
		bits |= 4
	}
	return r.masks[bits]
}

// Relate computes how a viewer with view v relates to a person in department
// dept with the sorted group keys groups.
func Relate(v *View, dept string, groups []string) Relation {
	return Relation{
		SameDepartment: dept != "" && v.Department == dept,
		SameGroup:      intersects(v.Groups, groups),
		ViewerManager:  v.IsManager,
	}
}

func intersects(a, b []string) bool {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			return true
		case a[i] < b[j]:
			i++
		default:
			j++
		}
	}
	return false
}

// Fingerprint identifies the rules; it changes when any audience changes.
func (r *Rules) Fingerprint() string {
	h := sha256.New()
	for f := Field(0); f < numFields; f++ {
		fmt.Fprintf(h, "%s=%s;", f, r.audience[f])
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// Present returns the set of ruled fields the entry has a value for.
func Present(e *Entry) FieldSet {
	var s FieldSet
	set := func(f Field, ok bool) {
		if ok {
			s = s.With(f)
		}
	}
	set(FieldEmail, len(e.Emails) > 0)
	for _, p := range e.Phones {
		switch p.Kind {
		case PhoneWork:
			s = s.With(FieldWorkPhone)
		case PhoneMobile:
			s = s.With(FieldMobile)
		case PhoneHome:
			s = s.With(FieldHomePhone)
		case PhoneFax:
			s = s.With(FieldFax)
		}
	}
	set(FieldTitle, e.Title != "")
	set(FieldDepartment, e.Department != "")
	set(FieldOrganization, e.Company != "")
	set(FieldOffice, e.Office != "")
	set(FieldAddress, e.Address != nil)
	set(FieldManager, e.ManagerName != "")
	set(FieldPhoto, len(e.Photo) > 0)
	set(FieldBirthday, e.Birthday != "")
	set(FieldNotes, e.Notes != "")
	set(FieldWebsite, e.Website != "")
	set(FieldEmployeeID, e.EmployeeID != "")
	set(FieldIM, len(e.IMs) > 0)
	return s
}

// Fingerprint identifies a view. Two viewers with the same view see the same
// cards, byte for byte.
func (v View) Fingerprint() string {
	// Polled on every request: built without fmt, byte for byte what
	// fmt's %q and %t wrote before, so stored views keep their names.
	b := make([]byte, 0, 64+32*(len(v.Groups)+len(v.Lists)+len(v.Edits)))
	b = append(b, "d="...)
	b = strconv.AppendQuote(b, v.Department)
	b = append(b, ";m="...)
	b = strconv.AppendBool(b, v.IsManager)
	b = append(b, ';')
	g := v.Groups
	if !sort.StringsAreSorted(g) {
		g = append([]string(nil), g...)
		sort.Strings(g)
	}
	for _, set := range []struct {
		key  string
		list []string
	}{{"g=", g}, {"l=", v.Lists}, {"e=", v.Edits}} {
		for _, k := range set.list {
			b = append(b, set.key...)
			b = strconv.AppendQuote(b, k)
			b = append(b, ';')
		}
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}
