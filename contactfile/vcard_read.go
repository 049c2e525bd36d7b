package contactfile

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-vcard"
)

// logicalLine is one content line after unfolding, and the 1-based line
// of the file where it starts.
type logicalLine struct {
	line int
	text []byte
}

// How the lines after a content line may continue it.
type foldMode int

const (
	foldPlain  foldMode = iota // lines starting with a space or tab
	foldQP                     // also a line after one ending in "=" (quoted-printable)
	foldBase64                 // also lines of base64 characters until an empty line
)

// unfoldLines joins continuation lines in time linear in the input: a
// line is copied only once it has a continuation, and continuations are
// appended to that copy. Empty lines end a content line and are dropped.
func unfoldLines(data []byte) []logicalLine {
	var out []logicalLine
	var cur []byte
	owned := false
	start, n := 0, 0
	mode := foldPlain
	extend := func(b []byte) {
		if !owned {
			cur = append(make([]byte, 0, 2*(len(cur)+len(b))), cur...)
			owned = true
		}
		cur = append(cur, b...)
	}
	flush := func() {
		if start > 0 {
			out = append(out, logicalLine{line: start, text: cur})
		}
		start, cur, owned = 0, nil, false
	}
	for len(data) > 0 {
		n++
		l := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			l, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		l = bytes.TrimSuffix(l, []byte{'\r'})
		switch {
		case start > 0 && mode == foldQP && len(cur) > 0 && cur[len(cur)-1] == '=' && !isEndLine(l):
			// A soft line break: the "=" and the line end are not data.
			cur = cur[:len(cur)-1]
			extend(l)
		case start > 0 && len(l) > 0 && (l[0] == ' ' || l[0] == '\t'):
			extend(l[1:])
		case start > 0 && mode == foldBase64 && isBase64Line(l):
			extend(l)
		case len(bytes.TrimSpace(l)) == 0:
			flush()
		default:
			flush()
			// Files joined with cat keep each one's byte-order mark.
			l = bytes.TrimPrefix(l, bomUTF8)
			cur, start, mode = l, n, foldModeOf(l)
		}
	}
	flush()
	return out
}

func isEndLine(l []byte) bool {
	return bytes.EqualFold(bytes.TrimSpace(l), []byte("END:VCARD"))
}

func isBase64Line(l []byte) bool {
	for _, c := range l {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=') {
			return false
		}
	}
	return len(l) > 0
}

// foldModeOf reads the ENCODING of a content line from its first physical
// line (vCard 2.1, which has these continuations, does not fold names
// and parameters).
func foldModeOf(l []byte) foldMode {
	head := l
	if i := bytes.IndexByte(l, ':'); i >= 0 {
		head = l[:i]
	}
	if !containsFold(head, "QUOTED-PRINTABLE") && !containsFold(head, "BASE64") && !containsFold(head, "ENCODING") {
		return foldPlain // most lines: not worth parsing twice
	}
	cl, msg := parseContentLine(l)
	if msg != "" {
		return foldPlain
	}
	for _, p := range cl.params {
		if p.key != "" && p.key != "ENCODING" {
			continue
		}
		for _, v := range p.values {
			switch strings.ToUpper(v) {
			case "QUOTED-PRINTABLE":
				return foldQP
			case "BASE64", "B":
				return foldBase64
			}
		}
	}
	return foldPlain
}

// containsFold reports whether b contains the upper-case ASCII s, in any
// case.
func containsFold(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if b[i]|0x20 == s[0]|0x20 && bytes.EqualFold(b[i:i+len(s)], []byte(s)) {
			return true
		}
	}
	return false
}

// pendingCard is a card read up to its END:VCARD.
type pendingCard struct {
	line  int
	lines []logicalLine
}

// vcardReader reads a file of vCards.
type vcardReader struct {
	t        text
	charsets charsets
}

func readVCards(t text) ([]Entry, error) {
	r := &vcardReader{t: t, charsets: charsets{}}
	var entries []Entry
	var card *pendingCard
	for _, ll := range unfoldLines(t.data) {
		name, value := structuralLine(ll.text)
		switch {
		case card == nil && name == "BEGIN" && strings.EqualFold(value, "VCARD"):
			if len(entries) == MaxCards {
				return nil, tooMany(ll.line)
			}
			card = &pendingCard{line: ll.line}
		case card == nil:
			return nil, errorf(ll.line, "text outside a vCard (%s): every line must be between BEGIN:VCARD and END:VCARD", snippet(ll.text))
		case name == "BEGIN":
			return nil, errorf(card.line, "the card that starts here has no END:VCARD (line %d begins another)", ll.line)
		case name == "END" && strings.EqualFold(value, "VCARD"):
			e, err := r.finish(card)
			if err != nil {
				return nil, err
			}
			entries = append(entries, e)
			card = nil
		case name == "END":
			return nil, errorf(ll.line, "END:%s does not end a vCard: want END:VCARD", snippet([]byte(value)))
		default:
			card.lines = append(card.lines, ll)
		}
	}
	if card != nil {
		return nil, errorf(card.line, "the card that starts here has no END:VCARD")
	}
	return entries, nil
}

// structuralLine returns the upper-case name and the trimmed value of a
// BEGIN or END line (parameters, which no one writes there, ignored); ""
// for other lines.
func structuralLine(l []byte) (name, value string) {
	i := bytes.IndexAny(l, ";:")
	if i < 3 || i > 6 {
		return "", ""
	}
	name = strings.ToUpper(string(bytes.TrimSpace(l[:i])))
	if name != "BEGIN" && name != "END" {
		return "", ""
	}
	if j := bytes.IndexByte(l, ':'); j >= 0 {
		value = string(bytes.TrimSpace(l[j+1:]))
	}
	return name, value
}

// snippet quotes the start of a line for an error message.
func snippet(l []byte) string {
	s := string(l)
	if len(s) > 40 {
		cut := 40
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return strings.TrimSpace(strings.ToValidUTF8(s, "\uFFFD"))
}

// finish turns a card's lines into an Entry with vCard 4.0 semantics.
func (r *vcardReader) finish(p *pendingCard) (Entry, error) {
	lines := make([]contentLine, len(p.lines))
	version := "3.0"
	for i, ll := range p.lines {
		cl, msg := parseContentLine(ll.text)
		if msg != "" {
			return Entry{}, errorf(ll.line, "%s", msg)
		}
		cl.line = ll.line
		lines[i] = cl
		if cl.name == vcard.FieldVersion && cl.group == "" {
			version = strings.TrimSpace(string(cl.value))
		}
	}
	v21 := strings.HasPrefix(version, "2")
	card := vcard.Card{}
	for _, cl := range lines {
		if cl.name == vcard.FieldVersion {
			continue
		}
		f, name, err := r.property(cl, v21)
		if err != nil {
			return Entry{}, err
		}
		if f != nil {
			card.Add(name, f)
		}
	}
	if strings.EqualFold(card.Value(vcard.FieldKind), string(vcard.KindGroup)) {
		return Entry{Line: p.line, Skip: skipGroup}, nil
	}
	if !ensureFN(card) {
		return Entry{Line: p.line, Skip: skipNothing}, nil
	}
	card.SetValue(vcard.FieldVersion, "4.0")
	return Entry{Line: p.line, Card: card}, nil
}
