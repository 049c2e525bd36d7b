package contactfile

import (
	"strings"
)

// csvScanner reads CSV records as spreadsheets and contact managers
// write them (RFC 4180 and what real files add): quoted fields with ""
// for a quote and line ends inside, and, leniently, text after a closing
// quote and quotes inside unquoted fields, both kept as written. Each
// byte is looked at a bounded number of times, so reading is linear.
type csvScanner struct {
	s    string // line ends already "\n"
	pos  int
	line int // line of s[pos]
	sep  byte
}

// next reads the record at the scanner's position into fields (reused),
// returning the line it starts on; ok is false at the end of the input.
func (sc *csvScanner) next(fields []string) (out []string, start int, ok bool, err error) {
	out = fields[:0]
	if sc.pos >= len(sc.s) {
		return out, 0, false, nil
	}
	s, i := sc.s, sc.pos
	start = sc.line
	for {
		j := i
		for j < len(s) && s[j] == ' ' {
			j++
		}
		var v string
		if j < len(s) && s[j] == '"' {
			v, i, err = sc.quoted(j, len(out)+1)
			if err != nil {
				return nil, 0, false, err
			}
		} else {
			k := i
			for k < len(s) && s[k] != sc.sep && s[k] != '\n' {
				k++
			}
			v, i = s[i:k], k
		}
		out = append(out, v)
		switch {
		case i >= len(s):
			sc.pos = len(s)
			return out, start, true, nil
		case s[i] == sc.sep:
			i++
		default: // "\n"
			sc.pos = i + 1
			sc.line++
			return out, start, true, nil
		}
	}
}

// quoted reads the quoted field whose quote is at s[q]; it returns the
// value and the position after it (and after any text up to the next
// separator or line end).
func (sc *csvScanner) quoted(q, field int) (string, int, error) {
	s := sc.s
	fieldLine := sc.line
	i := q + 1
	var b strings.Builder
	escaped := false
	for {
		k := strings.IndexByte(s[i:], '"')
		if k < 0 {
			return "", 0, errorf(fieldLine, "unbalanced quote in field %d: the quoted field that starts here is never closed", field)
		}
		seg := s[i : i+k]
		sc.line += strings.Count(seg, "\n")
		i += k + 1
		if i < len(s) && s[i] == '"' {
			b.WriteString(seg)
			b.WriteByte('"')
			escaped = true
			i++
			continue
		}
		var v string
		if escaped {
			b.WriteString(seg)
			v = b.String()
		} else {
			v = seg
		}
		k = i
		for k < len(s) && s[k] != sc.sep && s[k] != '\n' {
			k++
		}
		if k > i {
			v += s[i:k]
		}
		return v, k, nil
	}
}

// normaliseLineEnds turns CRLF and lone CR into "\n", inside quoted
// fields too, where they are the line breaks of a note or an address.
func normaliseLineEnds(s string) string {
	if strings.IndexByte(s, '\r') < 0 {
		return s
	}
	return strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(s)
}

// detectSeparator picks the separator the header row uses most: ","
// (Outlook, Google), ";" (Outlook in countries whose decimal mark is a
// comma) or tab. Quoted text is not counted.
func detectSeparator(s string) byte {
	var counts [256]int
	quoted := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' {
			quoted = !quoted
		} else if !quoted {
			if c == '\n' && strings.TrimSpace(s[:i]) != "" {
				break
			}
			counts[c]++
		}
	}
	best := byte(',')
	for _, c := range []byte{';', '\t'} {
		if counts[c] > counts[best] {
			best = c
		}
	}
	return best
}

func isBlank(fields []string) bool {
	for _, f := range fields {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// readCSV reads a CSV export: a header row naming the columns, then one
// contact per row.
func readCSV(t text) ([]Entry, error) {
	s := normaliseLineEnds(csvText(t))
	sc := &csvScanner{s: s, line: 1, sep: detectSeparator(s)}
	// Excel's "sep=;" line names the separator.
	if len(s) >= 5 && strings.EqualFold(s[:4], "sep=") && (len(s) == 5 || s[5] == '\n') {
		sc.sep, sc.pos, sc.line = s[4], min(6, len(s)), 2
	}
	var fields []string
	var lay *layout
	var entries []Entry
	for {
		rec, line, ok, err := sc.next(fields)
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		fields = rec
		if isBlank(rec) {
			continue
		}
		if lay == nil {
			if lay = compileHeader(rec, sc.sep == ';'); !lay.hasName && !lay.hasEmail {
				return nil, errorf(line, `no known contact columns (expected e.g. "First Name" or "E-mail Address")`)
			}
			continue
		}
		if len(entries) == MaxCards {
			return nil, tooMany(line)
		}
		if n := len(lay.cols); len(rec) > n && !isBlank(rec[n:]) {
			return nil, errorf(line, "the row has %d fields but the header has %d: a value holding the separator %q must be quoted", len(rec), n, string(sc.sep))
		}
		entries = append(entries, lay.entry(rec, line))
	}
	if lay == nil {
		return nil, &Error{Msg: "the file has no header row"}
	}
	return entries, nil
}
