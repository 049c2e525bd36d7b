package contactfile

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-vcard"
)

// Encode renders one card as vCard "3.0" or "4.0" bytes: CRLF line ends,
// lines folded at 75 octets, VERSION first after BEGIN and then the
// properties sorted by name, the values of one name in their order, so
// the same card always gives the same bytes. The card is read with 4.0
// semantics (see the package documentation). For 3.0, a data: URI PHOTO
// becomes ENCODING=b;TYPE=JPEG, KIND:group and MEMBER become Apple's
// X-ADDRESSBOOKSERVER-KIND and -MEMBER, PREF=1 becomes TYPE=pref, dates
// take the 1980-03-07 form (year-less ones Apple's 1604 form), and
// other TYPE parameters are kept. The card is not changed.
func Encode(card vcard.Card, version string) ([]byte, error) {
	v4 := version == "4.0"
	if !v4 && version != "3.0" {
		return nil, fmt.Errorf("contactfile: encode a card as vCard %q: want 3.0 or 4.0", version)
	}
	names := make([]string, 0, len(card))
	for k := range card {
		if !strings.EqualFold(k, vcard.FieldVersion) {
			names = append(names, k)
		}
	}
	slices.SortFunc(names, func(a, b string) int {
		if c := strings.Compare(strings.ToUpper(a), strings.ToUpper(b)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	out := make([]byte, 0, 256)
	out = append(out, "BEGIN:VCARD\r\nVERSION:"...)
	out = append(out, version...)
	out = append(out, "\r\n"...)
	for _, k := range names {
		name := strings.ToUpper(k)
		if !isToken(name) || name == "BEGIN" || name == "END" {
			return nil, fmt.Errorf("contactfile: encode a card: property name %q: want letters, digits and -, and not BEGIN or END", k)
		}
		for _, f := range card[k] {
			if f == nil {
				continue
			}
			line, err := encodeField(name, f, v4)
			if err != nil {
				return nil, err
			}
			out = appendFolded(out, line)
		}
	}
	return append(out, "END:VCARD\r\n"...), nil
}

// encodeField renders one property as an unfolded content line.
func encodeField(name string, f *vcard.Field, v4 bool) (string, error) {
	params := make(vcard.Params, len(f.Params))
	for k, v := range f.Params {
		params[strings.ToUpper(k)] = slices.Clone(v)
	}
	// Cleaned as the reader cleans: what a card holds never breaks the
	// lines, nor the XML a CardDAV server serves the card in.
	value := cleanText(f.Value)
	kind := valueKindOf(name, params)
	if !v4 {
		name, value, kind = to30(name, value, kind, params)
	}
	var b strings.Builder
	if f.Group != "" {
		if !isToken(f.Group) {
			return "", fmt.Errorf("contactfile: encode a card: group %q of %s: want letters, digits and -", f.Group, name)
		}
		b.WriteString(f.Group)
		b.WriteByte('.')
	}
	if name == fieldLabel {
		b.WriteString("X-ABLabel") // as Apple spells it
	} else {
		b.WriteString(name)
	}
	keys := make([]string, 0, len(params))
	for k, v := range params {
		if len(v) > 0 {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !isToken(k) {
			return "", fmt.Errorf("contactfile: encode a card: parameter name %q of %s: want letters, digits and -", k, name)
		}
		b.WriteByte(';')
		b.WriteString(k)
		b.WriteByte('=')
		for i, v := range params[k] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(paramValue(cleanText(v)))
		}
	}
	b.WriteByte(':')
	b.WriteString(escape(value, kind))
	return b.String(), nil
}

// to30 converts a property to vCard 3.0 as Apple's clients read it,
// changing params in place.
func to30(name, value string, kind valueKind, params vcard.Params) (string, string, valueKind) {
	if params.Get(vcard.ParamPreferred) != "" {
		delete(params, vcard.ParamPreferred)
		params.Add(vcard.ParamType, "pref")
	}
	switch name {
	case vcard.FieldKind:
		if value == string(vcard.KindGroup) {
			name = "X-ADDRESSBOOKSERVER-KIND"
		}
	case vcard.FieldMember:
		name = "X-ADDRESSBOOKSERVER-MEMBER"
	case vcard.FieldEmail:
		if !params.HasType("internet") {
			params[vcard.ParamType] = append([]string{"internet"}, params[vcard.ParamType]...)
		}
	case vcard.FieldTelephone:
		if v, ok := strings.CutPrefix(value, "tel:"); ok && kind == kindURI {
			value, kind = v, kindText
			delete(params, vcard.ParamValue)
		}
	case vcard.FieldPhoto, vcard.FieldLogo, vcard.FieldSound, vcard.FieldKey:
		if mt, data, ok := parseDataURI(value); ok {
			sub := mt
			if _, s, found := strings.Cut(mt, "/"); found {
				sub = s
			}
			params.Set("ENCODING", "b")
			params.Add(vcard.ParamType, strings.ToUpper(sub))
			return name, data, kindURI
		}
		if params.Get(vcard.ParamValue) == "" {
			params.Set(vcard.ParamValue, "uri")
		}
	case vcard.FieldBirthday, vcard.FieldAnniversary:
		if d, ok := parseVCardDate(value); ok && kind == kindURI {
			if d.year == 0 {
				d.year = noYear
				params.Set("X-APPLE-OMIT-YEAR", fmt.Sprint(noYear))
			} else {
				params.Set(vcard.ParamValue, "date")
			}
			value = fmt.Sprintf("%04d-%02d-%02d", d.year, d.month, d.day)
		}
	}
	return name, value, kind
}

// parseDataURI splits a base64 data: URI into its media type and data.
func parseDataURI(v string) (mediaType, data string, ok bool) {
	rest, ok := strings.CutPrefix(v, "data:")
	if !ok {
		return "", "", false
	}
	head, data, ok := strings.Cut(rest, ",")
	mediaType, enc, _ := strings.Cut(head, ";")
	if !ok || !strings.EqualFold(enc, "base64") || mediaType == "" {
		return "", "", false
	}
	return strings.ToLower(mediaType), data, true
}

// paramValue writes a parameter value, quoted when it holds a separator,
// with RFC 6868's carets for what quotes cannot hold.
func paramValue(v string) string {
	if strings.ContainsAny(v, "^\"\r\n") {
		var b strings.Builder
		for i := 0; i < len(v); i++ {
			switch c := v[i]; c {
			case '^':
				b.WriteString("^^")
			case '"':
				b.WriteString("^'")
			case '\n':
				b.WriteString("^n")
			case '\r':
				if i+1 >= len(v) || v[i+1] != '\n' {
					b.WriteString("^n")
				}
			default:
				b.WriteByte(c)
			}
		}
		v = b.String()
	}
	if strings.ContainsAny(v, ",;:") {
		return `"` + v + `"`
	}
	return v
}

// appendFolded appends a content line and CRLF, folding it so that no
// physical line exceeds 75 octets and no UTF-8 sequence is split.
func appendFolded(out []byte, line string) []byte {
	limit := 75
	for len(line) > limit {
		cut := limit
		for cut > limit-utf8.UTFMax && !utf8.RuneStart(line[cut]) {
			cut--
		}
		out = append(out, line[:cut]...)
		out = append(out, "\r\n "...)
		line = line[cut:]
		limit = 74 // the continuation's leading space counts
	}
	out = append(out, line...)
	return append(out, "\r\n"...)
}
