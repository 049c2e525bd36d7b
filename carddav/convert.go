package carddav

import (
	"bytes"
	"strings"
)

// contentLine is one unfolded vCard line, split without unescaping the
// value, so conversion never disturbs what it does not touch.
type contentLine struct {
	group, name string   // name upper-cased for matching
	rawName     string   // name as sent, written back unchanged
	params      []string // raw "KEY=value" pieces, in order
	value       string
}

// cardLine is one unfolded content line and the line of the card it
// starts on (1-based), for error messages.
type cardLine struct {
	text string
	at   int
}

// unfold joins a vCard's continuation lines (CRLF or LF; a line starting
// with a space or tab continues the one before) in time linear in the
// card's size: a hostile card of a million one-byte continuations costs
// as much as one long line. Blank lines are dropped.
func unfold(data []byte) []cardLine {
	var out []cardLine
	var cur []byte
	at := 0
	flush := func() {
		if at > 0 && strings.TrimSpace(string(cur)) != "" {
			out = append(out, cardLine{text: string(cur), at: at})
		}
	}
	for n := 1; len(data) > 0; n++ {
		l := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			l, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		l = bytes.TrimSuffix(l, []byte("\r"))
		if len(l) > 0 && (l[0] == ' ' || l[0] == '\t') && at > 0 {
			cur = append(cur, l[1:]...)
			continue
		}
		flush()
		cur, at = append(cur[:0], l...), n
	}
	flush()
	return out
}

// parseLine splits name, params and value, honouring quoted param values.
func parseLine(l string) (contentLine, bool) {
	var cl contentLine
	inQuote := false
	start := 0
	var head []string
	colon := -1
	for i := 0; i < len(l) && colon < 0; i++ {
		switch l[i] {
		case '"':
			inQuote = !inQuote
		case ';':
			if !inQuote {
				head = append(head, l[start:i])
				start = i + 1
			}
		case ':':
			if !inQuote {
				head = append(head, l[start:i])
				colon = i
			}
		}
	}
	if colon < 0 || len(head) == 0 {
		return cl, false
	}
	cl.value = l[colon+1:]
	name := head[0]
	if dot := strings.IndexByte(name, '.'); dot >= 0 {
		cl.group, name = name[:dot], name[dot+1:]
	}
	cl.rawName = name
	cl.name = strings.ToUpper(name)
	cl.params = head[1:]
	return cl, true
}

func (cl contentLine) hasParam(key, value string) bool {
	for _, p := range cl.params {
		k, v, _ := strings.Cut(p, "=")
		if !strings.EqualFold(k, key) {
			continue
		}
		for _, x := range strings.Split(strings.Trim(v, `"`), ",") {
			if strings.EqualFold(x, value) {
				return true
			}
		}
	}
	return false
}

// withoutParam drops a key=value (or a bare value inside a TYPE list).
func (cl *contentLine) withoutParam(key, value string) {
	var out []string
	for _, p := range cl.params {
		k, v, _ := strings.Cut(p, "=")
		if !strings.EqualFold(k, key) {
			out = append(out, p)
			continue
		}
		var keep []string
		for _, x := range strings.Split(strings.Trim(v, `"`), ",") {
			if value != "" && !strings.EqualFold(x, value) {
				keep = append(keep, x)
			}
		}
		if len(keep) > 0 {
			out = append(out, k+"="+strings.Join(keep, ","))
		}
	}
	cl.params = out
}

func (cl contentLine) write(w *cardWriter) {
	name := cl.rawName
	if !strings.EqualFold(name, cl.name) {
		name = cl.name // renamed by conversion
	}
	if cl.group != "" {
		name = cl.group + "." + name
	}
	var params strings.Builder
	for _, p := range cl.params {
		params.WriteByte(';')
		params.WriteString(p)
	}
	w.raw(name, params.String(), cl.value)
}

// cardVersion returns the VERSION value of a raw card.
func cardVersion(data []byte) string {
	for _, l := range unfold(data) {
		if cl, ok := parseLine(l.text); ok && cl.name == "VERSION" {
			return strings.TrimSpace(cl.value)
		}
	}
	return ""
}

// convertCard converts a stored card to vCard 4.0 (v4) or 3.0. A card
// already in the wanted version is returned as stored.
func convertCard(data []byte, v4 bool) []byte {
	have := cardVersion(data)
	if (v4 && have == "4.0") || (!v4 && have == "3.0") {
		return data
	}
	return rewriteCard(data, v4, "")
}

// rewriteCard converts a stored card to vCard 4.0 (v4) or 3.0 and, when
// uid is not empty, gives it that UID.
func rewriteCard(data []byte, v4 bool, uid string) []byte {
	w := &cardWriter{v4: v4}
	for _, l := range unfold(data) {
		cl, ok := parseLine(l.text)
		if !ok {
			// Stored before PUT checked the form (an unclosed quoted
			// parameter): kept as it is rather than lost.
			w.line(l.text)
			continue
		}
		if cl.name == "UID" && uid != "" {
			continue
		}
		if cl.name == "VERSION" {
			cl.value = "3.0"
			if v4 {
				cl.value = "4.0"
			}
			cl.write(w)
			if uid != "" {
				w.raw("UID", "", uid)
			}
			continue
		} else if v4 {
			if !to4(&cl) {
				continue
			}
		} else if !to3(&cl) {
			continue
		}
		cl.write(w)
	}
	return w.b
}

func to4(cl *contentLine) bool {
	switch cl.name {
	case "PHOTO", "LOGO":
		if cl.hasParam("ENCODING", "b") || cl.hasParam("ENCODING", "BASE64") {
			mime := "image/jpeg"
			if cl.hasParam("TYPE", "PNG") {
				mime = "image/png"
			} else if cl.hasParam("TYPE", "GIF") {
				mime = "image/gif"
			}
			cl.params = nil
			cl.value = "data:" + mime + ";base64," + cl.value
		}
	case "X-ADDRESSBOOKSERVER-KIND":
		cl.name = "KIND"
	case "X-ADDRESSBOOKSERVER-MEMBER":
		cl.name = "MEMBER"
	case "BDAY":
		if cl.hasParam("X-APPLE-OMIT-YEAR", "1604") && len(cl.value) >= 10 {
			cl.params = nil
			cl.value = "--" + strings.ReplaceAll(cl.value[5:10], "-", "")
		}
	}
	if cl.hasParam("TYPE", "pref") {
		cl.withoutParam("TYPE", "pref")
		cl.params = append(cl.params, "PREF=1")
	}
	if cl.name == "EMAIL" {
		cl.withoutParam("TYPE", "INTERNET")
	}
	return true
}

func to3(cl *contentLine) bool {
	switch cl.name {
	case "PHOTO", "LOGO":
		if rest, ok := strings.CutPrefix(cl.value, "data:"); ok {
			mime, b64, found := strings.Cut(rest, ",")
			if !found {
				return false
			}
			typ := "JPEG"
			if strings.Contains(mime, "png") {
				typ = "PNG"
			} else if strings.Contains(mime, "gif") {
				typ = "GIF"
			}
			cl.params = []string{"ENCODING=b", "TYPE=" + typ}
			cl.value = b64
		}
	case "KIND":
		if strings.EqualFold(cl.value, "group") {
			cl.name = "X-ADDRESSBOOKSERVER-KIND"
			cl.value = "group"
		} else {
			return false
		}
	case "MEMBER":
		cl.name = "X-ADDRESSBOOKSERVER-MEMBER"
	case "TEL":
		if v, ok := strings.CutPrefix(cl.value, "tel:"); ok {
			cl.value = v
		}
		cl.withoutParam("VALUE", "")
	case "BDAY":
		if strings.HasPrefix(cl.value, "--") && len(cl.value) >= 6 {
			md := strings.ReplaceAll(cl.value[2:], "-", "")
			cl.params = []string{"X-APPLE-OMIT-YEAR=1604"}
			cl.value = "1604-" + md[0:2] + "-" + md[2:4]
		}
	}
	var out []string
	pref := false
	for _, p := range cl.params {
		k, _, _ := strings.Cut(p, "=")
		if strings.EqualFold(k, "PREF") {
			pref = true
			continue
		}
		out = append(out, p)
	}
	cl.params = out
	if pref {
		cl.params = append(cl.params, "TYPE=pref")
	}
	return true
}
