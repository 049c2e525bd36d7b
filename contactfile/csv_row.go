package contactfile

import (
	"fmt"
	"slices"
	"strings"

	"github.com/emersion/go-vcard"
)

// Apple's and Android's names for phonetic names, which vCard lacks.
var phoneticFields = [3]string{"X-PHONETIC-FIRST-NAME", "X-PHONETIC-MIDDLE-NAME", "X-PHONETIC-LAST-NAME"}

// groupFields is the property each kind of group of columns makes.
var groupFields = map[groupKind]string{gEmail: vcard.FieldEmail, gPhone: vcard.FieldTelephone,
	gWebsite: vcard.FieldURL, gRelation: vcard.FieldRelated}

// googleSep joins several values of one kind in one Google cell.
const googleSep = " ::: "

// rowBuilder turns one CSV row into a card.
type rowBuilder struct {
	lay        *layout
	card       vcard.Card
	fn         string
	n          [5]string
	phonetic   [3]string
	nicknames  []string
	categories []string
	groups     int // property groups (item1, …) made for custom labels
}

// entry reads one row; rows with more fields than the header were
// refused before, and missing fields are empty.
func (lay *layout) entry(rec []string, line int) Entry {
	b := &rowBuilder{lay: lay, card: vcard.Card{}}
	for i, raw := range rec[:min(len(rec), len(lay.cols))] {
		v := strings.TrimSpace(cleanText(raw))
		if v == "" {
			continue
		}
		col := &lay.cols[i]
		if col.ignored != "" && strings.EqualFold(v, col.ignored) {
			continue
		}
		b.cell(col, v)
	}
	slices.Sort(lay.touched)
	for _, g := range lay.touched {
		b.group(g)
		lay.vals[g], lay.mark[g] = [nParts]string{}, false
	}
	lay.touched = lay.touched[:0]
	return b.finish(line)
}

func (b *rowBuilder) cell(col *column, v string) {
	c := b.card
	switch col.target {
	case tUnknown:
		b.keep(col.name, v)
	case tFN:
		if b.fn == "" {
			b.fn = v
		}
	case tName:
		if b.n[col.part] == "" {
			b.n[col.part] = v
		}
	case tPhonetic:
		if b.phonetic[col.part] == "" {
			b.phonetic[col.part] = v
		}
	case tNickname:
		b.nicknames = append(b.nicknames, splitMulti(v)...)
	case tRole:
		c.AddValue(vcard.FieldRole, v)
	case tBirthday, tAnniversary:
		d, zero, ok := parseCSVDate(v, b.lay.dayFirst)
		name := vcard.FieldBirthday
		if col.target == tAnniversary {
			name = vcard.FieldAnniversary
		}
		switch {
		case zero:
		case ok:
			c.AddValue(name, d.vcard())
		default:
			b.keep(col.name, v) // not a date we can read: kept as written
		}
	case tNote:
		c.AddValue(vcard.FieldNote, v)
	case tPhoto:
		c.AddValue(vcard.FieldPhoto, v)
	case tCategories:
		for _, s := range strings.Split(v, ";") {
			if s = strings.TrimSpace(s); s != "" {
				b.categories = append(b.categories, s)
			}
		}
	case tLabels:
		for _, s := range splitMulti(v) {
			if !strings.HasPrefix(s, "*") { // "* myContacts", "* starred": Google's own
				b.categories = append(b.categories, s)
			}
		}
	case tGender:
		switch strings.ToLower(v) {
		case "male", "m":
			c.AddValue(vcard.FieldGender, "M")
		case "female", "f":
			c.AddValue(vcard.FieldGender, "F")
		default:
			c.AddValue(vcard.FieldGender, joinParts("", v))
		}
	case tFreeBusy:
		c.AddValue(vcard.FieldFreeOrBusyURL, v)
	case tGroup:
		lay := b.lay
		if !lay.mark[col.group] {
			lay.mark[col.group] = true
			lay.touched = append(lay.touched, col.group)
		}
		lay.vals[col.group][col.part] = v
	}
}

// keep stores a cell this package cannot map, under its column's name.
func (b *rowBuilder) keep(column, v string) {
	b.card.Add(fieldCSV, &vcard.Field{Value: v, Params: vcard.Params{paramCSVName: {column}}})
}

// splitMulti splits a Google cell of several values.
func splitMulti(v string) []string {
	var out []string
	for _, s := range strings.Split(v, googleSep) {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// group makes the properties of one group of columns.
func (b *rowBuilder) group(g int) {
	def, vals := &b.lay.groups[g], &b.lay.vals[g]
	var m labelMap
	switch def.kind {
	case gOrg:
		b.org(vals)
		return
	case gAddress:
		b.address(def, vals)
		return
	case gPhone:
		m = phoneLabels
	case gRelation:
		m = relationLabels
	default:
		m = placeLabels
	}
	value := vals[pValue]
	if value == "" {
		return
	}
	if t := vals[pEmailType]; t != "" && !strings.EqualFold(t, "SMTP") {
		// An Exchange address (EX: /o=ExchangeLabs/…) reaches no one
		// outside that organisation: kept, but not as an e-mail.
		b.keep(b.lay.cols[def.cols[pValue]-1].name, value)
		b.keep(b.lay.cols[def.cols[pEmailType]-1].name, t)
		return
	}
	types, custom, pref := def.types, "", false
	if !def.fixed {
		types, custom, pref = parseLabel(m, vals[pLabel])
	}
	for i, v := range splitMulti(value) {
		f := b.labelled(groupFields[def.kind], v, types, custom, pref && i == 0)
		if def.kind == gRelation {
			f.Params.Set(vcard.ParamValue, "text") // a name, not the URI of a card
		}
	}
}

// labelled adds a property with its types, or with an Apple label (in a
// property group of its own) when the label has no TYPE value.
func (b *rowBuilder) labelled(name, value string, types []string, custom string, pref bool) *vcard.Field {
	f := &vcard.Field{Value: value, Params: vcard.Params{}}
	if len(types) > 0 {
		f.Params[vcard.ParamType] = slices.Clone(types)
	}
	if pref {
		f.Params.Set(vcard.ParamPreferred, "1")
	}
	if custom != "" {
		b.groups++
		f.Group = fmt.Sprintf("item%d", b.groups)
		b.card.Add(fieldLabel, &vcard.Field{Value: custom, Group: f.Group})
	}
	b.card.Add(name, f)
	return f
}

// address makes an ADR of each address in the group: Google joins
// several addresses of one label part by part with " ::: ".
func (b *rowBuilder) address(def *groupDef, vals *[nParts]string) {
	var parts [nParts][]string
	n := 0
	for p := pFormatted; p <= pExtended; p++ {
		parts[p] = splitMulti(vals[p])
		n = max(n, len(parts[p]))
	}
	types, custom, pref := def.types, "", false
	if !def.fixed {
		types, custom, pref = parseLabel(placeLabels, vals[pLabel])
	}
	for k := range n {
		get := func(p int) string { return part(parts[p], k) }
		var lines []string
		for _, p := range []int{pStreet, pStreet2, pStreet3} {
			if s := get(p); s != "" {
				lines = append(lines, s)
			}
		}
		street, formatted := strings.Join(lines, "\n"), get(pFormatted)
		comps := []string{get(pPOBox), get(pExtended), street, get(pCity), get(pRegion), get(pPostal), get(pCountry)}
		if strings.Join(comps, "") == "" {
			if formatted == "" {
				continue
			}
			comps[2] = formatted // only the formatted address: kept whole
		}
		f := b.labelled(vcard.FieldAddress, joinParts(comps...), types, custom, pref && k == 0)
		if formatted != "" {
			f.Params.Set("LABEL", formatted)
		}
	}
}

// org makes ORG (organisation; department) and TITLE.
func (b *rowBuilder) org(vals *[nParts]string) {
	name, dept, title := vals[pOrgName], vals[pOrgDept], vals[pOrgTitle]
	switch {
	case dept != "":
		b.card.AddValue(vcard.FieldOrganization, joinParts(name, dept))
	case name != "":
		b.card.AddValue(vcard.FieldOrganization, joinParts(name))
	}
	if title != "" {
		b.card.AddValue(vcard.FieldTitle, title)
	}
}

// finish adds what several columns make together, and the name.
func (b *rowBuilder) finish(line int) Entry {
	c := b.card
	if strings.Join(b.n[:], "") != "" {
		c.AddValue(vcard.FieldName, joinParts(b.n[:]...))
	}
	for i, p := range b.phonetic {
		if p != "" {
			c.AddValue(phoneticFields[i], p)
		}
	}
	if len(b.nicknames) > 0 {
		c.AddValue(vcard.FieldNickname, joinItems(b.nicknames))
	}
	if len(b.categories) > 0 {
		seen := map[string]bool{}
		var cats []string
		for _, s := range b.categories {
			if !seen[s] {
				seen[s] = true
				cats = append(cats, s)
			}
		}
		c.AddValue(vcard.FieldCategories, joinItems(cats))
	}
	for _, fs := range c {
		for _, f := range fs {
			if len(f.Params) == 0 {
				f.Params = nil
			}
		}
	}
	if b.fn != "" {
		c.AddValue(vcard.FieldFormattedName, b.fn)
	}
	if !ensureFN(c) {
		return Entry{Line: line, Skip: skipNothing}
	}
	c.SetValue(vcard.FieldVersion, "4.0")
	return Entry{Line: line, Card: c}
}
