package contactfile

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-vcard"
	"golang.org/x/text/encoding"
)

// contentLine is one unfolded content line split into its parts, its
// value not yet decoded.
type contentLine struct {
	line        int
	group, name string // name in upper case
	params      []rawParam
	value       []byte
}

// rawParam is one parameter as written; key is upper case, and "" for a
// vCard 2.1 bare value (TEL;CELL).
type rawParam struct {
	key    string
	values []string
}

const noColon = "no ':' between the property's name and its value"

// parseContentLine splits a content line, honouring quoted parameter
// values (which may hold ";", ":" and ","); the message says what is
// wrong with the line, "" when nothing is.
func parseContentLine(l []byte) (contentLine, string) {
	var cl contentLine
	i := bytes.IndexAny(l, ";:")
	if i < 0 {
		return cl, noColon
	}
	full := string(l[:i])
	name := full
	if g, n, ok := strings.Cut(full, "."); ok {
		cl.group, name = g, n
	}
	if !isToken(name) || cl.group != "" && !isToken(cl.group) {
		return cl, fmt.Sprintf("property name %q: want letters, digits and -", snippet(l[:i]))
	}
	cl.name = strings.ToUpper(name)
	stop := func(c byte) bool { return c == ',' || c == ';' || c == ':' }
	for i < len(l) && l[i] == ';' {
		i++
		k := i
		for i < len(l) && l[i] != '=' && l[i] != ';' && l[i] != ':' {
			i++
		}
		if i == len(l) {
			return cl, noColon
		}
		if l[i] != '=' {
			if v := strings.TrimSpace(string(l[k:i])); v != "" {
				cl.params = append(cl.params, rawParam{values: []string{v}})
			}
			continue
		}
		key := strings.TrimSpace(string(l[k:i]))
		if !isToken(key) {
			return cl, fmt.Sprintf("parameter name %q: want letters, digits and -", snippet(l[k:i]))
		}
		p := rawParam{key: strings.ToUpper(key)}
		for {
			i++ // past "=" or ","
			var v []byte
			if i < len(l) && l[i] == '"' {
				j := bytes.IndexByte(l[i+1:], '"')
				if j < 0 {
					return cl, "a quoted parameter value is not closed"
				}
				v, i = l[i+1:i+1+j], i+2+j
			}
			k := i
			for i < len(l) && !stop(l[i]) {
				i++
			}
			p.values = append(p.values, string(v)+string(l[k:i]))
			if i == len(l) || l[i] != ',' {
				break
			}
		}
		if i == len(l) {
			return cl, noColon
		}
		cl.params = append(cl.params, p)
	}
	cl.value = l[i+1:]
	return cl, ""
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return s != ""
}

// property decodes one content line into a field with vCard 4.0
// semantics, and the name to file it under; a nil field is dropped.
func (r *vcardReader) property(cl contentLine, v21 bool) (*vcard.Field, string, error) {
	if cl.name == "BEGIN" || cl.name == "END" {
		// Grouped (item1.END): a reader that ignores groups would end
		// the card there.
		return nil, "", errorf(cl.line, "%s.%s inside a card: BEGIN and END cannot be properties", cl.group, cl.name)
	}
	params := vcard.Params{}
	var types []string
	seen := map[string]bool{}
	var enc, charset string
	hasCharset := false
	for _, p := range cl.params {
		for _, v := range p.values {
			v = r.paramValue(v, v21)
			key := p.key
			if key == "" {
				key, v = bareParam(v)
			}
			switch key {
			case "ENCODING":
				enc = strings.ToLower(strings.TrimSpace(v))
			case "CHARSET":
				charset, hasCharset = strings.TrimSpace(v), true
			case vcard.ParamType:
				// Some writers quote a whole list: TYPE="work,voice".
				for _, t := range strings.Split(v, ",") {
					if t = strings.ToLower(strings.TrimSpace(t)); t != "" && !seen[t] {
						seen[t] = true
						types = append(types, t)
					}
				}
			default:
				params.Add(key, v)
			}
		}
	}
	var cs encoding.Encoding
	if hasCharset {
		var ok bool
		if cs, ok = r.charsets.lookup(charset); !ok {
			return nil, "", errorf(cl.line, "unknown charset %q", charset)
		}
	}
	var value string
	switch enc {
	case "b", "base64":
		f, err := binaryField(cl, params, types)
		return f, cl.name, err
	case "quoted-printable":
		value = decodeBytes(qpDecode(cl.value), cs)
	default:
		if enc != "" && enc != "8bit" && enc != "7bit" {
			params.Add("ENCODING", enc)
		}
		// A raw value that is UTF-8 is UTF-8, whatever CHARSET says:
		// files are often converted without their labels.
		if r.t.transcoded || utf8.Valid(cl.value) {
			value = string(cl.value)
		} else {
			value = decodeBytes(cl.value, cs)
		}
	}
	name := cl.name
	switch name {
	case "X-ADDRESSBOOKSERVER-KIND":
		name = vcard.FieldKind
	case "X-ADDRESSBOOKSERVER-MEMBER":
		name = vcard.FieldMember
	}
	f := &vcard.Field{Value: unescape(cleanText(value), valueKindOf(name, params)), Params: params, Group: cl.group}
	switch name {
	case vcard.FieldKind:
		f.Value = strings.ToLower(strings.TrimSpace(f.Value))
	case vcard.FieldPhoto, vcard.FieldLogo, vcard.FieldSound, vcard.FieldKey:
		if strings.EqualFold(params.Get(vcard.ParamValue), "uri") {
			delete(params, vcard.ParamValue)
		}
	case vcard.FieldBirthday, vcard.FieldAnniversary:
		normaliseDate(f)
	}
	setTypes(f, name, types)
	return f, name, nil
}

// paramValue decodes a parameter value: RFC 6868 carets in 3.0 and 4.0,
// and Windows-1252 bytes in a file that is not UTF-8.
func (r *vcardReader) paramValue(v string, v21 bool) string {
	if !utf8.ValidString(v) {
		v = decodeBytes([]byte(v), nil)
	}
	if !v21 {
		v = uncaret(v)
	}
	return cleanText(v)
}

// bareParam reads a vCard 2.1 parameter written without its name:
// an encoding, or else a type (CELL, WORK, PREF, JPEG).
func bareParam(v string) (key, value string) {
	switch u := strings.ToUpper(v); u {
	case "QUOTED-PRINTABLE", "BASE64", "8BIT", "7BIT":
		return "ENCODING", u
	}
	return vcard.ParamType, v
}

// setTypes stores the TYPE values with 4.0 semantics: "pref" becomes
// PREF=1, and an e-mail's "internet", which every address is, goes.
func setTypes(f *vcard.Field, name string, types []string) {
	var keep []string
	for _, t := range types {
		switch {
		case t == "pref":
			if f.Params.Get(vcard.ParamPreferred) == "" {
				f.Params.Set(vcard.ParamPreferred, "1")
			}
		case t == "internet" && name == vcard.FieldEmail:
		default:
			keep = append(keep, t)
		}
	}
	if len(keep) > 0 {
		f.Params[vcard.ParamType] = keep
	}
	if len(f.Params) == 0 {
		f.Params = nil
	}
}

// valueKindOf is kindOf, corrected by a VALUE parameter: TEL;VALUE=uri
// is a tel: URI, BDAY;VALUE=text is text.
func valueKindOf(name string, p vcard.Params) valueKind {
	k := kindOf(name)
	switch v := strings.ToLower(p.Get(vcard.ParamValue)); {
	case v == "uri" && k == kindText:
		return kindURI
	case v == "text" && k == kindURI:
		return kindText
	}
	return k
}

// normaliseDate writes a date in 4.0 form, 19800307 or --0307, turning
// Apple's year-less dates (X-APPLE-OMIT-YEAR=1604:1604-03-07) into the
// latter. Date-times and text are left as they are.
func normaliseDate(f *vcard.Field) {
	d, ok := parseVCardDate(strings.TrimSpace(f.Value))
	if !ok || strings.EqualFold(f.Params.Get(vcard.ParamValue), "text") {
		return
	}
	if y := f.Params.Get("X-APPLE-OMIT-YEAR"); y != "" && atoi(y) == d.year {
		d.year = 0
	}
	f.Value = d.vcard()
	delete(f.Params, "X-APPLE-OMIT-YEAR")
	if strings.EqualFold(f.Params.Get(vcard.ParamValue), "date") {
		delete(f.Params, vcard.ParamValue)
	}
}

// binaryField turns an inline base64 value (3.0 ENCODING=b, 2.1
// ENCODING=BASE64) into a 4.0 data: URI, its media type from the TYPE
// parameter (JPEG when there is none). An empty one is dropped.
func binaryField(cl contentLine, params vcard.Params, types []string) (*vcard.Field, error) {
	b64 := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, string(cl.value))
	if b64 == "" {
		return nil, nil
	}
	data, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		data, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(b64, "="))
	}
	if err != nil {
		return nil, errorf(cl.line, "%s: the base64 data is damaged", cl.name)
	}
	mt := strings.ToLower(params.Get(vcard.ParamMediaType))
	delete(params, vcard.ParamMediaType)
	delete(params, vcard.ParamValue)
	var keep []string
	for _, t := range types {
		switch {
		case t == "work" || t == "home" || t == "pref":
			keep = append(keep, t)
		case mt == "":
			mt = mediaType(cl.name, t)
		}
	}
	if mt == "" {
		mt = mediaType(cl.name, "")
	}
	f := &vcard.Field{Value: "data:" + mt + ";base64," + base64.StdEncoding.EncodeToString(data), Params: params, Group: cl.group}
	setTypes(f, cl.name, keep)
	return f, nil
}

// mediaType reads a 2.1/3.0 TYPE (JPEG, PNG, image/png) as a media type.
func mediaType(name, t string) string {
	if !isMediaToken(t) {
		t = ""
	}
	if strings.Contains(t, "/") {
		return t
	}
	if t == "jpg" {
		t = "jpeg"
	}
	switch name {
	case vcard.FieldSound:
		if t == "" {
			return "audio/basic"
		}
		return "audio/" + t
	case vcard.FieldKey:
		if t == "" {
			return "application/octet-stream"
		}
		return "application/" + t
	}
	if t == "" {
		return "image/jpeg"
	}
	return "image/" + t
}

// isMediaToken keeps out of a data: URI what would end its media type.
func isMediaToken(t string) bool {
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("/.+-_", c) >= 0) {
			return false
		}
	}
	return strings.Count(t, "/") <= 1
}

// qpDecode decodes quoted-printable leniently: an "=" not followed by two
// hex digits is kept, and a final "=" (a soft break before END:VCARD) is
// dropped.
func qpDecode(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '=' {
			if i == len(b)-1 {
				break
			}
			if i+2 < len(b) {
				hi, ok1 := unhex(b[i+1])
				lo, ok2 := unhex(b[i+2])
				if ok1 && ok2 {
					out = append(out, hi<<4|lo)
					i += 2
					continue
				}
			}
		}
		out = append(out, b[i])
	}
	return out
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// uncaret undoes RFC 6868's escapes in a parameter value.
func uncaret(s string) string {
	if !strings.Contains(s, "^") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '^' && i+1 < len(s) {
			switch s[i+1] {
			case '^':
				b.WriteByte('^')
				i++
				continue
			case 'n', 'N':
				b.WriteByte('\n')
				i++
				continue
			case '\'':
				b.WriteByte('"')
				i++
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
