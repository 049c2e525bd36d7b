package contactfile

import (
	"fmt"
	"strings"
	"unicode"
)

// target says what a CSV column feeds.
type target int

const (
	tUnknown target = iota // kept as X-ORGDAV-CSV
	tIgnore                // derived from other columns (Outlook's e-mail display names)
	tFN
	tName     // part: the component of N, 0 family … 4 suffix
	tPhonetic // part: 0 first, 1 middle, 2 last
	tNickname
	tRole
	tBirthday
	tAnniversary
	tNote
	tPhoto
	tCategories // ";"-separated (Outlook)
	tLabels     // " ::: "-separated, Google's starred system groups dropped
	tGender
	tFreeBusy
	tGroup // part of a group of columns: one e-mail, phone, address, …
)

// groupKind is what a group of columns describes.
type groupKind int

const (
	gEmail groupKind = iota
	gPhone
	gAddress
	gWebsite
	gRelation
	gOrg
)

// The parts of a group of columns.
const (
	pValue = iota
	pLabel
	pEmailType // Outlook's "E-mail Type": SMTP, or EX for an Exchange address
	pFormatted
	pStreet
	pStreet2
	pStreet3
	pCity
	pPOBox
	pRegion
	pPostal
	pCountry
	pExtended
	pOrgName
	pOrgTitle
	pOrgDept
	nParts
)

// column is what the header says of one column.
type column struct {
	target target
	part   int
	group  int
	name   string // the header cell, for X-ORGDAV-CSV
	// ignored is the value Outlook writes for "nothing" in this column
	// ("Normal", "Unspecified"), in lower case.
	ignored string
}

// groupDef is a group of columns that together make one property.
type groupDef struct {
	kind groupKind
	// fixed is set when the column names the type (Outlook's "Home
	// Phone"), rather than a label cell (Google's "Phone 1 - Label").
	fixed bool
	types []string
	// cols holds 1 + the index of each part's column (0 when absent).
	cols [nParts]int
}

// layout is a compiled header.
type layout struct {
	cols              []column
	groups            []groupDef
	dayFirst          bool
	hasName, hasEmail bool

	// Scratch space for one row, reset after each, so that a row costs
	// what its cells cost however wide the header is.
	vals    [][nParts]string
	touched []int
	mark    []bool
}

// spec is how one header name is read.
type spec struct {
	target  target
	part    int
	kind    groupKind
	key     string // the group's identity among the header's columns
	fixed   bool
	types   []string
	ignored string
}

// simpleColumns are the columns that feed one property, name part or
// group part on their own, by their name in lower case: names from
// Outlook, Google (current and legacy), Thunderbird and hand-made sheets.
var simpleColumns = map[string]spec{}

func init() {
	org := func(part int) spec { return spec{target: tGroup, kind: gOrg, key: "org 1", part: part} }
	for _, c := range []struct {
		names []string
		spec  spec
	}{
		{[]string{"name", "full name", "display name"}, spec{target: tFN}},
		{[]string{"first name", "given name"}, spec{target: tName, part: 1}},
		{[]string{"middle name", "additional name"}, spec{target: tName, part: 2}},
		{[]string{"last name", "family name", "surname"}, spec{target: tName, part: 0}},
		{[]string{"name prefix", "prefix"}, spec{target: tName, part: 3}},
		{[]string{"suffix", "name suffix"}, spec{target: tName, part: 4}},
		{[]string{"phonetic first name", "given name yomi", "given yomi"}, spec{target: tPhonetic, part: 0}},
		{[]string{"phonetic middle name", "additional name yomi"}, spec{target: tPhonetic, part: 1}},
		{[]string{"phonetic last name", "family name yomi", "surname yomi"}, spec{target: tPhonetic, part: 2}},
		{[]string{"nickname"}, spec{target: tNickname}},
		{[]string{"profession", "occupation"}, spec{target: tRole}},
		{[]string{"birthday", "birth date", "date of birth"}, spec{target: tBirthday}},
		{[]string{"anniversary"}, spec{target: tAnniversary}},
		{[]string{"notes", "note"}, spec{target: tNote}},
		{[]string{"photo"}, spec{target: tPhoto}},
		{[]string{"categories"}, spec{target: tCategories}},
		{[]string{"labels", "group membership"}, spec{target: tLabels}},
		{[]string{"gender"}, spec{target: tGender, ignored: "unspecified"}},
		{[]string{"internet free busy"}, spec{target: tFreeBusy}},
		{[]string{"e-mail display name", "e-mail 2 display name", "e-mail 3 display name"}, spec{target: tIgnore}},
		{[]string{"priority", "sensitivity"}, spec{ignored: "normal"}},
		{[]string{"private"}, spec{ignored: "false"}},
		{[]string{"company", "company name", "organization", "organisation", "organization name"}, org(pOrgName)},
		{[]string{"department", "organization department"}, org(pOrgDept)},
		{[]string{"job title", "organization title"}, org(pOrgTitle)},
		{[]string{"e-mail address", "email", "e-mail", "email address", "primary email"}, email(1, pValue)},
		{[]string{"e-mail type"}, email(1, pEmailType)},
		{[]string{"e-mail 2 address", "secondary email"}, email(2, pValue)},
		{[]string{"e-mail 2 type"}, email(2, pEmailType)},
		{[]string{"e-mail 3 address"}, email(3, pValue)},
		{[]string{"e-mail 3 type"}, email(3, pEmailType)},
		{[]string{"work email"}, fixed(gEmail, "work")},
		{[]string{"home email"}, fixed(gEmail, "home")},
		{[]string{"other email"}, fixed(gEmail)},
		{[]string{"web page", "website", "url"}, fixed(gWebsite)},
		{[]string{"personal web page"}, fixed(gWebsite, "home")},
		{[]string{"spouse"}, fixed(gRelation, "spouse")},
		{[]string{"children"}, fixed(gRelation, "child")},
		{[]string{"assistant's name"}, fixed(gRelation, "agent")},
		{[]string{"phone", "phone number", "telephone"}, fixed(gPhone)},
		{[]string{"mobile", "mobile number", "cell phone"}, fixed(gPhone, "cell")},
		{[]string{"work phone"}, fixed(gPhone, "work")},
		{[]string{"fax", "fax number"}, fixed(gPhone, "fax")},
		{[]string{"pager number"}, fixed(gPhone, "pager")},
	} {
		for _, n := range c.names {
			simpleColumns[n] = c.spec
		}
	}
	for _, p := range outlookPhones {
		simpleColumns[strings.ToLower(p.column)] = fixed(gPhone, p.types...)
	}
}

// email is one of Outlook's three e-mail addresses, part of its columns.
func email(n, part int) spec {
	return spec{target: tGroup, kind: gEmail, key: fmt.Sprint("outlook e-mail ", n), fixed: true, part: part}
}

// fixed is a column that makes one property of the given types on its
// own; the group key is filled in from the column's name.
func fixed(kind groupKind, types ...string) spec {
	return spec{target: tGroup, kind: kind, fixed: true, types: types, part: pValue}
}

// Address columns are a place and a part: "Business Street 2",
// "Home Postal Code", "Work ZipCode", or a part alone ("City").
var (
	addressPlaces = map[string][]string{"business": {"work"}, "work": {"work"}, "home": {"home"}, "other": nil}
	addressParts  = map[string]int{
		"street": pStreet, "street 2": pStreet2, "street 3": pStreet3, "address": pStreet, "address 2": pStreet2,
		"city": pCity, "state": pRegion, "postal code": pPostal, "zip": pPostal, "zip code": pPostal, "zipcode": pPostal,
		"country/region": pCountry, "country": pCountry, "address po box": pPOBox, "po box": pPOBox,
	}
)

// Google's numbered columns: "E-mail 2 - Value", "Address 1 - PO Box".
var (
	numberedKinds = map[string]groupKind{"e-mail": gEmail, "email": gEmail, "phone": gPhone, "address": gAddress,
		"website": gWebsite, "relation": gRelation, "organization": gOrg}
	numberedParts = map[string]int{"value": pValue, "label": pLabel, "type": pLabel, "formatted": pFormatted,
		"street": pStreet, "city": pCity, "po box": pPOBox, "region": pRegion, "postal code": pPostal,
		"country": pCountry, "extended address": pExtended, "name": pOrgName, "title": pOrgTitle, "department": pOrgDept}
)

// partFits reports whether a numbered group of the kind has the part.
func partFits(k groupKind, p int) bool {
	switch k {
	case gAddress:
		return p == pLabel || p >= pFormatted && p <= pExtended && p != pStreet2 && p != pStreet3
	case gOrg:
		return p >= pOrgName
	}
	return p == pValue || p == pLabel
}

// normaliseColumn reads a header cell as a lower-case name with single
// spaces.
func normaliseColumn(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range strings.TrimPrefix(s, "\uFEFF") {
		if unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// classify reads one header name. Outlook's "Title" is the name prefix
// ("Dr."), beside its "Job Title"; elsewhere it is the job title.
func classify(n string, hasJobTitle bool) spec {
	if n == "title" {
		if hasJobTitle {
			return spec{target: tName, part: 3}
		}
		return spec{target: tGroup, kind: gOrg, key: "org 1", part: pOrgTitle}
	}
	if s, ok := simpleColumns[n]; ok {
		if s.target == tGroup && s.key == "" {
			s.key = n
		}
		return s
	}
	if left, right, ok := strings.Cut(n, " - "); ok {
		if i := strings.LastIndexByte(left, ' '); i > 0 && isDigits(left[i+1:]) {
			k, kok := numberedKinds[left[:i]]
			p, pok := numberedParts[right]
			if kok && pok && partFits(k, p) {
				key := left
				if k == gOrg && atoi(left[i+1:]) == 1 {
					key = "org 1"
				}
				return spec{target: tGroup, kind: k, key: key, part: p}
			}
		}
		return spec{}
	}
	place, rest, _ := strings.Cut(n, " ")
	types, ok := addressPlaces[place]
	if !ok {
		place, rest = "", n
	}
	if p, ok := addressParts[rest]; ok {
		return spec{target: tGroup, kind: gAddress, key: "address " + place, fixed: true, types: types, part: p}
	}
	return spec{}
}

// compileHeader reads the header row. Columns are matched by name,
// never by position: tools write subsets of Outlook's columns in their
// own order.
func compileHeader(names []string, dayFirst bool) *layout {
	lay := &layout{dayFirst: dayFirst, cols: make([]column, len(names))}
	norm := make([]string, len(names))
	hasJobTitle := false
	for i, n := range names {
		norm[i] = normaliseColumn(n)
		hasJobTitle = hasJobTitle || norm[i] == "job title"
	}
	groups := map[string]int{}
	for i, n := range norm {
		s := classify(n, hasJobTitle)
		col := column{target: s.target, part: s.part, group: -1, ignored: s.ignored,
			name: cleanText(strings.TrimSpace(strings.TrimPrefix(names[i], "\uFEFF")))}
		if s.target == tGroup {
			g, ok := groups[s.key]
			if !ok || lay.groups[g].cols[s.part] != 0 {
				// A second column for the same part (a header naming a
				// column twice) starts a group of its own.
				g = len(lay.groups)
				groups[s.key] = g
				lay.groups = append(lay.groups, groupDef{kind: s.kind, fixed: s.fixed, types: s.types})
			}
			lay.groups[g].cols[s.part] = i + 1
			col.group = g
			lay.hasName = lay.hasName || s.kind == gOrg && s.part == pOrgName
			lay.hasEmail = lay.hasEmail || s.kind == gEmail && s.part == pValue
		}
		lay.hasName = lay.hasName || s.target == tFN || s.target == tName
		lay.cols[i] = col
	}
	lay.vals = make([][nParts]string, len(lay.groups))
	lay.mark = make([]bool, len(lay.groups))
	return lay
}
