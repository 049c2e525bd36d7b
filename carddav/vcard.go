package carddav

import (
	"encoding/base64"
	"strings"
	"unicode/utf8"

	"github.com/orgdav/orgdav/directory"
)

const prodID = "-//orgdav//orgdav//EN"

// cardWriter builds a vCard with fixed property order, escaping per value
// type and 75-octet folding, so the same input always yields the same bytes.
type cardWriter struct {
	b       []byte
	v4      bool
	scratch []byte // a long line while it is folded
}

func (w *cardWriter) begin() {
	w.b = append(w.b, "BEGIN:VCARD\r\n"...)
	if w.v4 {
		w.b = append(w.b, "VERSION:4.0\r\n"...)
	} else {
		w.b = append(w.b, "VERSION:3.0\r\n"...)
	}
	w.raw("PRODID", "", prodID)
}

func (w *cardWriter) end() { w.b = append(w.b, "END:VCARD\r\n"...) }

// raw writes one content line whose value is already encoded, folding it.
func (w *cardWriter) raw(name, params, value string) {
	start := w.open(name, params)
	w.b = append(w.b, value...)
	w.close(start)
}

// open starts a content line; close folds and ends it. Values are
// appended in between, escaped in place, so a card costs no allocation
// per property.
func (w *cardWriter) open(name, params string) int {
	start := len(w.b)
	w.b = append(w.b, name...)
	w.b = append(w.b, params...)
	w.b = append(w.b, ':')
	return start
}

func (w *cardWriter) close(start int) {
	w.b = w.fold(w.b, start)
	w.b = append(w.b, "\r\n"...)
}

// line writes a content line as it came, folded.
func (w *cardWriter) line(l string) {
	start := len(w.b)
	w.b = append(w.b, l...)
	w.close(start)
}

func (w *cardWriter) text(name, params, value string) {
	start := w.open(name, params)
	w.b = appendEscaped(w.b, value)
	w.close(start)
}

// structured writes a property whose value is a ;-separated list of text
// components (N, ADR, ORG).
func (w *cardWriter) structured(name, params string, parts ...string) {
	start := w.open(name, params)
	for i, p := range parts {
		if i > 0 {
			w.b = append(w.b, ';')
		}
		w.b = appendEscaped(w.b, p)
	}
	w.close(start)
}

// fold folds the line that starts at b[start:], through the writer's
// scratch buffer: no physical line exceeds 75 octets and no UTF-8
// sequence is split.
func (w *cardWriter) fold(b []byte, start int) []byte {
	if len(b)-start <= 75 {
		return b
	}
	w.scratch = append(w.scratch[:0], b[start:]...)
	return foldInto(b[:start], w.scratch)
}

// foldInto appends line to b, folded.
func foldInto(b, line []byte) []byte {
	limit := 75
	for len(line) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(line[cut]) {
			cut--
		}
		b = append(b, line[:cut]...)
		b = append(b, "\r\n "...)
		line = line[cut:]
		limit = 74 // the continuation's leading space counts
	}
	return append(b, line...)
}

// appendEscaped appends s escaped as a TEXT value (RFC 6350 3.4, RFC 2426
// 4): backslash, comma and semicolon get a backslash; a line break (CRLF,
// LF or CR) becomes \n.
func appendEscaped(dst []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); i++ {
		var rep string
		switch s[i] {
		case '\\':
			rep = `\\`
		case ',':
			rep = `\,`
		case ';':
			rep = `\;`
		case '\n':
			rep = `\n`
		case '\r':
			rep = `\n`
			if i+1 < len(s) && s[i+1] == '\n' {
				dst = append(dst, s[last:i]...)
				dst = append(dst, rep...)
				i++
				last = i + 1
				continue
			}
		default:
			continue
		}
		dst = append(dst, s[last:i]...)
		dst = append(dst, rep...)
		last = i + 1
	}
	return append(dst, s[last:]...)
}

// renderPersonAs renders a person card whose UID (its card name) is
// known: deriving it costs a SHA-1 a card.
func renderPersonAs(uid string, e *directory.Entry, mask directory.FieldSet, v4 bool) []byte {
	w := &cardWriter{v4: v4, b: make([]byte, 0, 512+len(e.Photo)*4/3)}
	w.person(uid, e, mask)
	return w.b
}

// person appends a person card to the writer's buffer.
func (w *cardWriter) person(uid string, e *directory.Entry, mask directory.FieldSet) {
	v4 := w.v4
	w.begin()
	w.raw("UID", "", uid)
	w.text("FN", "", e.DisplayName)
	w.structured("N", "", e.FamilyName, e.GivenName, "", "", "")
	if v4 {
		w.raw("KIND", "", "individual")
	}
	org, dept := mask.Has(directory.FieldOrganization) && e.Company != "", mask.Has(directory.FieldDepartment) && e.Department != ""
	switch {
	case org && dept:
		w.structured("ORG", "", e.Company, e.Department)
	case org:
		w.structured("ORG", "", e.Company)
	case dept:
		w.structured("ORG", "", "", e.Department)
	}
	if mask.Has(directory.FieldTitle) && e.Title != "" {
		w.text("TITLE", "", e.Title)
	}
	if mask.Has(directory.FieldEmail) {
		for i, m := range e.Emails {
			params := ";TYPE=INTERNET,WORK"
			switch {
			case v4 && i == 0:
				params = ";TYPE=work;PREF=1"
			case v4:
				params = ";TYPE=work"
			case i == 0:
				params = ";TYPE=INTERNET,WORK,pref"
			}
			w.text("EMAIL", params, m)
		}
	}
	for _, p := range e.Phones {
		var field directory.Field
		var p3, p4 string
		switch p.Kind {
		case directory.PhoneWork:
			field, p3, p4 = directory.FieldWorkPhone, ";TYPE=WORK,VOICE", ";TYPE=work,voice"
		case directory.PhoneMobile:
			field, p3, p4 = directory.FieldMobile, ";TYPE=CELL,VOICE", ";TYPE=cell,voice"
		case directory.PhoneHome:
			field, p3, p4 = directory.FieldHomePhone, ";TYPE=HOME,VOICE", ";TYPE=home,voice"
		case directory.PhoneFax:
			field, p3, p4 = directory.FieldFax, ";TYPE=WORK,FAX", ";TYPE=work,fax"
		default:
			continue
		}
		if !mask.Has(field) {
			continue
		}
		if v4 {
			w.text("TEL", p4, p.Number)
		} else {
			w.text("TEL", p3, p.Number)
		}
	}
	office := mask.Has(directory.FieldOffice) && e.Office != ""
	addr := mask.Has(directory.FieldAddress) && e.Address != nil
	if office || addr {
		var a directory.Address
		if addr {
			a = *e.Address
		}
		o := ""
		if office {
			o = e.Office
		}
		params := ";TYPE=WORK"
		if v4 {
			params = ";TYPE=work"
		}
		w.structured("ADR", params, "", o, a.Street, a.City, a.Region, a.PostalCode, a.Country)
	}
	if mask.Has(directory.FieldManager) && e.ManagerName != "" {
		if v4 {
			w.text("item1.RELATED", ";VALUE=text;TYPE=co-worker", e.ManagerName)
		} else {
			w.text("item1.X-ABRELATEDNAMES", "", e.ManagerName)
		}
		w.raw("item1.X-ABLabel", "", "_$!<Manager>!$_")
	}
	if mask.Has(directory.FieldBirthday) && e.Birthday != "" {
		writeBirthday(w, e.Birthday)
	}
	if mask.Has(directory.FieldWebsite) && e.Website != "" {
		w.raw("URL", "", e.Website)
	}
	if mask.Has(directory.FieldIM) {
		for _, im := range e.IMs {
			w.raw("IMPP", "", im)
		}
	}
	if mask.Has(directory.FieldEmployeeID) && e.EmployeeID != "" {
		w.text("X-EMPLOYEE-ID", "", e.EmployeeID)
	}
	if mask.Has(directory.FieldNotes) && e.Notes != "" {
		w.text("NOTE", "", e.Notes)
	}
	if mask.Has(directory.FieldPhoto) && len(e.Photo) > 0 {
		var start int
		if v4 {
			start = w.open("PHOTO", "")
			w.b = append(w.b, "data:image/jpeg;base64,"...)
		} else {
			start = w.open("PHOTO", ";ENCODING=b;TYPE=JPEG")
		}
		w.b = base64.StdEncoding.AppendEncode(w.b, e.Photo)
		w.close(start)
	}
	w.end()
}

// writeBirthday writes BDAY; a year-less date uses Apple's 1604 convention
// in 3.0 and the --MMDD form in 4.0.
func writeBirthday(w *cardWriter, bday string) {
	digits := strings.ReplaceAll(bday, "-", "")
	yearless := strings.HasPrefix(bday, "--")
	switch {
	case w.v4 && yearless:
		w.raw("BDAY", "", "--"+digits)
	case w.v4:
		w.raw("BDAY", "", digits)
	case yearless:
		w.raw("BDAY", ";X-APPLE-OMIT-YEAR=1604", "1604-"+digits[0:2]+"-"+digits[2:4])
	default:
		w.raw("BDAY", ";VALUE=date", digits[0:4]+"-"+digits[4:6]+"-"+digits[6:8])
	}
}

// renderGroup renders a contact group: Apple's X-ADDRESSBOOKSERVER form in
// 3.0, KIND/MEMBER in 4.0; members by urn:uuid of their card UID.
func renderGroup(g *directory.GroupEntry, v4 bool) []byte {
	w := groupHead(directory.CardUID(g.Key), g.Name, len(g.Members), v4)
	member := groupMember(v4)
	for _, m := range g.Members {
		start := w.open(member, "")
		w.b = directory.AppendCardUID(append(w.b, "urn:uuid:"...), m)
		w.close(start)
	}
	w.end()
	return w.b
}

func groupMember(v4 bool) string {
	if v4 {
		return "MEMBER"
	}
	return "X-ADDRESSBOOKSERVER-MEMBER"
}

// renderGroupCard renders a group of the cards whose UIDs are members.
func renderGroupCard(uid, name string, members []string, v4 bool) []byte {
	w := groupHead(uid, name, len(members), v4)
	member := groupMember(v4)
	for _, m := range members {
		start := w.open(member, "")
		w.b = append(append(w.b, "urn:uuid:"...), m...)
		w.close(start)
	}
	w.end()
	return w.b
}

// groupHead starts a group card of n members.
func groupHead(uid, name string, n int, v4 bool) *cardWriter {
	w := &cardWriter{v4: v4, b: make([]byte, 0, 256+n*64)}
	w.begin()
	w.raw("UID", "", uid)
	w.text("FN", "", name)
	if v4 {
		w.raw("KIND", "", "group")
	} else {
		w.structured("N", "", name, "", "", "", "")
		w.raw("X-ADDRESSBOOKSERVER-KIND", "", "group")
	}
	return w
}
