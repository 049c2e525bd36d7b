package contactfile

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/unicode"
)

// text is an uploaded file after its byte-order mark. A vCard file that
// is not UTF-8 is kept as bytes, because vCard 2.1 names the charset of
// each value; a CSV file is converted as a whole.
type text struct {
	data []byte
	// utf8 is set when the file is UTF-8: valid, or declared by a
	// byte-order mark (then a stray invalid byte becomes U+FFFD rather
	// than turning the whole file into Windows-1252).
	utf8 bool
	// transcoded is set when the file was UTF-16: its values are UTF-8
	// now, whatever CHARSET parameters say.
	transcoded bool
}

var (
	bomUTF8    = []byte{0xEF, 0xBB, 0xBF}
	bomUTF16LE = []byte{0xFF, 0xFE}
	bomUTF16BE = []byte{0xFE, 0xFF}
)

// decodeText checks the size, removes a byte-order mark, converts UTF-16
// and refuses binary files, naming the line of the first byte no text
// file has.
func decodeText(data []byte) (text, error) {
	if len(data) > MaxFileSize {
		return text{}, &Error{Msg: "file is larger than 32 MiB"}
	}
	t := text{data: data}
	switch {
	case bytes.HasPrefix(data, bomUTF8):
		t.data, t.utf8 = data[len(bomUTF8):], true
	case bytes.HasPrefix(data, bomUTF16LE):
		t.data, t.transcoded = fromUTF16(data, unicode.LittleEndian), true
	case bytes.HasPrefix(data, bomUTF16BE):
		t.data, t.transcoded = fromUTF16(data, unicode.BigEndian), true
	}
	if len(bytes.TrimSpace(t.data)) == 0 {
		return text{}, &Error{Msg: "the file is empty"}
	}
	if i := binaryAt(t.data); i >= 0 {
		return text{}, errorf(lineAt(t.data, i), "not a text file (binary data)")
	}
	t.utf8 = t.utf8 || utf8.Valid(t.data)
	return t, nil
}

func fromUTF16(data []byte, order unicode.Endianness) []byte {
	// The decoder replaces what is not UTF-16 with U+FFFD, so it cannot fail.
	out, _ := unicode.UTF16(order, unicode.ExpectBOM).NewDecoder().Bytes(data)
	return out
}

// isControl reports the bytes no contact file has in its text: C0
// controls other than tab, line ends and form feed, and DEL.
func isControl(c byte) bool {
	return c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' || c == 0x7F
}

// binaryAt returns the offset of the first control byte (NUL included)
// of a binary file, -1 for text. A file is binary when it has a NUL or
// more than one byte in twenty is a control byte: text files in any
// 8-bit encoding have neither; UTF-16 without a byte-order mark,
// spreadsheets and images have NULs.
func binaryAt(data []byte) int {
	first, n := -1, 0
	for i, c := range data {
		if isControl(c) {
			if first < 0 {
				first = i
			}
			n++
		}
	}
	if n*20 > len(data) || bytes.IndexByte(data, 0) >= 0 {
		return first
	}
	return -1
}

// lineAt returns the 1-based line of data[offset].
func lineAt(data []byte, offset int) int {
	return 1 + bytes.Count(data[:offset], []byte{'\n'})
}

// csvText returns the file as UTF-8: files that are not valid UTF-8 come
// from desktop Outlook, which writes the Windows code page.
func csvText(t text) string {
	if t.utf8 {
		return string(t.data)
	}
	out, _ := charmap.Windows1252.NewDecoder().Bytes(t.data)
	return string(out)
}

// charsets finds the decoder for a CHARSET parameter, once per name.
type charsets map[string]encoding.Encoding

// lookup returns the named charset, nil for UTF-8 (handled by the
// caller, which falls back to Windows-1252 for bytes that are not UTF-8),
// and false for a name it does not know. WHATWG's names come first: they
// map labels such as US-ASCII and ISO-8859-1 to Windows-1252, as mail
// and browsers do, which is what mislabelled exports need.
func (cs charsets) lookup(name string) (encoding.Encoding, bool) {
	key := strings.ToLower(strings.TrimSpace(name))
	if e, ok := cs[key]; ok {
		return e, true
	}
	var e encoding.Encoding
	if key == "utf-8" || key == "utf8" {
		cs[key] = nil
		return nil, true
	}
	if h, err := htmlindex.Get(key); err == nil {
		e = h
	} else if i, err := ianaindex.IANA.Encoding(key); err == nil && i != nil {
		e = i
	} else {
		return nil, false
	}
	if e == unicode.UTF8 {
		e = nil
	}
	cs[key] = e
	return e, true
}

// decodeBytes turns a value's bytes into UTF-8: with the charset when one
// is given, else as UTF-8 when they are, else as Windows-1252.
func decodeBytes(b []byte, e encoding.Encoding) string {
	if e != nil {
		out, err := e.NewDecoder().Bytes(b)
		if err == nil {
			return string(out)
		}
	}
	if utf8.Valid(b) {
		return string(b)
	}
	out, _ := charmap.Windows1252.NewDecoder().Bytes(b)
	return string(out)
}

// cleanText makes a value safe to store and to serve in XML: line ends
// become "\n", other control characters and U+FFFE/U+FFFF are dropped,
// and bytes that are not UTF-8 become U+FFFD.
func cleanText(s string) string {
	if isClean(s) {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s))
	for i, r := range s {
		switch {
		case r == '\r':
			if i+1 >= len(s) || s[i+1] != '\n' {
				b.WriteByte('\n')
			}
		case r < 0x80 && isControl(byte(r)) || r == '\f' || r == 0xFFFE || r == 0xFFFF:
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isClean(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' && c != '\n' || c == 0x7F {
			return false
		}
	}
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0xFFFE) && !strings.ContainsRune(s, 0xFFFF)
}
