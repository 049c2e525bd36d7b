package carddav

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-vcard"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
)

// parsedCard is what PUT needs from an uploaded card.
type parsedCard struct {
	uid     string
	version string
	emails  []string // a shared contact with a directory person's address is that person
}

// checkCard checks an uploaded vCard before it is stored: text that can
// travel inside an XML response (checkText), one card of content lines
// that parse, VERSION 3.0 or 4.0, one UID and an FN. Errors name the line.
// Everything it does is linear in the card's size.
func checkCard(data []byte) (parsedCard, error) {
	var pc parsedCard
	if err := checkText(data); err != nil {
		return pc, err
	}
	lines := unfold(data)
	if len(lines) == 0 || !isLine(lines[0].text, "BEGIN", "VCARD") {
		return pc, errors.New("not a vCard: the first line must be BEGIN:VCARD")
	}
	end := -1
	versions, uids, fns := 0, 0, 0
	for i, l := range lines[1:] {
		if end >= 0 {
			return pc, fmt.Errorf("line %d: more after END:VCARD: one card per resource", l.at)
		}
		if msg := lineProblem(l.text); msg != "" {
			return pc, fmt.Errorf("line %d: %s", l.at, msg)
		}
		cl, _ := parseLine(l.text)
		switch {
		case cl.name == "BEGIN":
			return pc, fmt.Errorf("line %d: a second BEGIN: one card per resource", l.at)
		case cl.name == "END":
			if !strings.EqualFold(strings.TrimSpace(cl.value), "VCARD") {
				return pc, fmt.Errorf("line %d: END:%s does not end a vCard", l.at, cl.value)
			}
			end = i
		case cl.name == "VERSION":
			versions++
		case cl.name == "UID":
			uids++
		case cl.name == "FN" && strings.TrimSpace(cl.value) != "":
			fns++
		}
	}
	switch {
	case end < 0:
		return pc, errors.New("END:VCARD missing")
	case versions != 1:
		return pc, fmt.Errorf("%d VERSION properties: want one, 3.0 or 4.0", versions)
	case uids != 1:
		return pc, fmt.Errorf("%d UID properties: want one", uids)
	case fns == 0:
		return pc, errors.New("FN missing")
	}
	// go-vcard reads the values (unescaping them) from the unfolded card:
	// its own unfolding joins continuation lines one by one, which takes
	// quadratic time on a card of many short continuations.
	var unfolded strings.Builder
	for _, l := range lines {
		unfolded.WriteString(l.text)
		unfolded.WriteString("\r\n")
	}
	card, err := vcard.NewDecoder(strings.NewReader(unfolded.String())).Decode()
	if err != nil && err != io.EOF {
		return pc, fmt.Errorf("invalid vCard: %v", err)
	}
	pc.version, pc.uid = strings.TrimSpace(card.Value(vcard.FieldVersion)), strings.TrimSpace(card.Value(vcard.FieldUID))
	for _, e := range card.Values(vcard.FieldEmail) {
		pc.emails = append(pc.emails, strings.TrimPrefix(strings.TrimSpace(e), "mailto:"))
	}
	switch {
	case pc.version != "3.0" && pc.version != "4.0":
		return pc, fmt.Errorf("VERSION %q not supported: send 3.0 or 4.0", pc.version)
	case pc.uid == "":
		return pc, errors.New("UID is empty")
	}
	return pc, nil
}

func isLine(text, name, value string) bool {
	cl, ok := parseLine(text)
	return ok && cl.name == name && strings.EqualFold(strings.TrimSpace(cl.value), value)
}

// lineProblem says what is wrong with a content line's form, or "".
func lineProblem(l string) string {
	quoted := false
	for i := 0; i < len(l); i++ {
		switch l[i] {
		case '"':
			quoted = !quoted
		case ':':
			if quoted {
				continue
			}
			name := l[:i]
			if j := strings.IndexByte(name, ';'); j >= 0 {
				name = name[:j]
			}
			if _, after, ok := strings.Cut(name, "."); ok {
				name = after
			}
			if !validName(name) {
				return fmt.Sprintf("property name %q: want letters, digits and -", name)
			}
			return ""
		}
	}
	if quoted {
		return "a quoted parameter value is not closed"
	}
	return "no ':' between the property's name and its value"
}

func validName(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// textChar reads the character at data[i]: its size, and whether card
// text may hold it. Refused are invalid UTF-8 (r is utf8.RuneError, size
// 1), control characters other than tab, CR and LF, and U+FFFE/U+FFFF,
// none of which XML can carry.
func textChar(data []byte, i int) (r rune, size int, ok bool) {
	if c := data[i]; c < utf8.RuneSelf {
		return rune(c), 1, c >= 0x20 && c != 0x7f || c == '\t' || c == '\r' || c == '\n'
	}
	r, size = utf8.DecodeRune(data[i:])
	return r, size, !(r == utf8.RuneError && size == 1) && r != 0xFFFE && r != 0xFFFF
}

// checkText refuses what is not UTF-8 text or cannot be carried in XML;
// the error names the line.
func checkText(data []byte) error {
	line := 1
	for i := 0; i < len(data); {
		r, size, ok := textChar(data, i)
		switch {
		case !ok && r == utf8.RuneError && size == 1:
			return fmt.Errorf("line %d: byte 0x%02X is not UTF-8: send the card as UTF-8", line, data[i])
		case !ok && r < 0x80:
			return fmt.Errorf("line %d: control character U+%04X: vCard text may not contain it", line, r)
		case !ok:
			return fmt.Errorf("line %d: U+%04X is not a character", line, r)
		case r == '\n':
			line++
		}
		i += size
	}
	return nil
}

// repairText makes stored bytes that checkText refuses safe to serve:
// invalid bytes become U+FFFD, other refused characters are dropped. Cards
// stored before the check may hold them.
func repairText(data []byte) []byte {
	out := make([]byte, 0, len(data))
	for i := 0; i < len(data); {
		r, size, ok := textChar(data, i)
		switch {
		case ok:
			out = append(out, data[i:i+size]...)
		case r == utf8.RuneError && size == 1:
			out = utf8.AppendRune(out, utf8.RuneError)
		}
		i += size
	}
	return out
}

// errNotVCard is refused with CARDDAV:supported-address-data.
type errNotVCard struct{ what string }

func (e *errNotVCard) Error() string { return e.what }

// cardText reads an uploaded card's Content-Type and returns the card as
// UTF-8, without a byte-order mark. It accepts what real clients send:
// text/vcard with any parameters and capitalisation, the legacy
// text/x-vcard and text/directory, a generic application/octet-stream, or
// no type. A declared charset is converted (a Latin-1 card stored raw would
// be served as broken UTF-8), except that bytes already valid UTF-8 under
// a declared single-byte charset are taken as the UTF-8 they are: clients
// mislabel UTF-8 far more often than Latin-1 text happens to be valid
// UTF-8, and converting would garble every accented letter.
func cardText(contentType string, data []byte) ([]byte, error) {
	var cs string
	if strings.TrimSpace(contentType) != "" {
		mt, params, err := mime.ParseMediaType(contentType)
		if err != nil {
			return nil, &errNotVCard{fmt.Sprintf("Content-Type %q: %v", contentType, err)}
		}
		switch mt {
		case "text/vcard", "text/x-vcard", "text/directory", "application/octet-stream":
		default:
			return nil, &errNotVCard{fmt.Sprintf("Content-Type %s is not a vCard: send text/vcard", mt)}
		}
		cs = strings.ToLower(strings.TrimSpace(params["charset"]))
	}
	switch cs {
	case "", "utf-8", "utf8", "us-ascii":
		return bytes.TrimPrefix(data, utf8BOM), nil
	}
	enc, err := ianaindex.MIME.Encoding(cs)
	if err != nil || enc == nil {
		enc, err = htmlindex.Get(cs) // the names browsers know: cp1252, latin1...
	}
	if err != nil || enc == nil {
		return nil, &errNotVCard{fmt.Sprintf("charset %q is not one this server reads: send UTF-8", cs)}
	}
	if utf8.Valid(data) && !strings.HasPrefix(cs, "utf-16") && !strings.HasPrefix(cs, "utf-32") {
		return bytes.TrimPrefix(data, utf8BOM), nil
	}
	out, err := enc.NewDecoder().Bytes(data)
	if err != nil {
		return nil, &errNotVCard{fmt.Sprintf("the card is not %s: %v", cs, err)}
	}
	return bytes.TrimPrefix(out, utf8BOM), nil
}

var utf8BOM = []byte("\xEF\xBB\xBF")
