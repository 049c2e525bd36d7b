package contactfile

import "strings"

// valueKind says how a property's value is escaped in a vCard.
type valueKind int

const (
	kindText       valueKind = iota
	kindStructured           // components separated by ";": N, ADR, ...
	kindList                 // items separated by ",": CATEGORIES, NICKNAME
	kindURI                  // URIs, dates and ids: "," and ";" are not escaped
)

func kindOf(name string) valueKind {
	switch name {
	case "N", "ADR", "ORG", "GENDER", "CLIENTPIDMAP":
		return kindStructured
	case "CATEGORIES", "NICKNAME":
		return kindList
	case "PHOTO", "LOGO", "SOUND", "KEY", "URL", "SOURCE", "MEMBER", "FBURL", "CALURI",
		"CALADRURI", "UID", "BDAY", "ANNIVERSARY", "REV", "GEO", "KIND", "IMPP",
		"X-ADDRESSBOOKSERVER-MEMBER":
		return kindURI
	}
	return kindText
}

// unescape undoes a vCard value's escapes, keeping "\;" in structured
// values and "\," in lists, where they mark a separator that is text (see
// the package documentation). Apple escapes ":" in URLs ("http\://"); an
// unknown escape is kept as written.
func unescape(s string, k valueKind) string {
	i := strings.IndexByte(s, '\\')
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch d := s[i]; {
		case d == 'n' || d == 'N':
			b.WriteByte('\n')
		case d == '\\' || d == ':':
			b.WriteByte(d)
		case d == ';' && k == kindStructured, d == ',' && k == kindList:
			b.WriteByte('\\')
			b.WriteByte(d)
		case d == ';' || d == ',':
			b.WriteByte(d)
		default:
			b.WriteByte('\\')
			b.WriteByte(d)
		}
	}
	return b.String()
}

// escape is unescape's inverse.
func escape(s string, k valueKind) string {
	if !strings.ContainsAny(s, "\\\r\n,;") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\':
			if i+1 < len(s) && (k == kindStructured && s[i+1] == ';' || k == kindList && s[i+1] == ',') {
				b.WriteByte('\\')
				b.WriteByte(s[i+1])
				i++
				continue
			}
			b.WriteString(`\\`)
		case '\r':
			if i+1 < len(s) && s[i+1] == '\n' {
				continue
			}
			b.WriteString(`\n`)
		case '\n':
			b.WriteString(`\n`)
		case ',':
			if k == kindText || k == kindStructured {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
		case ';':
			if k == kindText || k == kindList {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// joinParts builds a structured value (N, ADR, ORG) from plain text.
func joinParts(parts ...string) string {
	esc := make([]string, len(parts))
	for i, p := range parts {
		esc[i] = strings.ReplaceAll(p, ";", `\;`)
	}
	return strings.Join(esc, ";")
}

// splitParts returns a structured value's components as plain text.
func splitParts(v string) []string {
	return splitEscaped(v, ';')
}

// joinItems builds a list value (CATEGORIES, NICKNAME) from plain text.
func joinItems(items []string) string {
	esc := make([]string, len(items))
	for i, it := range items {
		esc[i] = strings.ReplaceAll(it, ",", `\,`)
	}
	return strings.Join(esc, ",")
}

// splitItems returns a list value's items as plain text.
func splitItems(v string) []string {
	return splitEscaped(v, ',')
}

func splitEscaped(v string, sep byte) []string {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(v); i++ {
		switch {
		case v[i] == '\\' && i+1 < len(v) && v[i+1] == sep:
			cur.WriteByte(sep)
			i++
		case v[i] == sep:
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(v[i])
		}
	}
	return append(out, cur.String())
}

// part returns component i of a structured value, "" when it has fewer.
func part(parts []string, i int) string {
	if i < len(parts) {
		return parts[i]
	}
	return ""
}
