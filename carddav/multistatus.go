package carddav

import (
	"bufio"
	"encoding/xml"
	"io"
	"net/http"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/klauspost/compress/gzip"
)

const (
	status200 = "HTTP/1.1 200 OK"
	status404 = "HTTP/1.1 404 Not Found"
	status403 = "HTTP/1.1 403 Forbidden"
	status409 = "HTTP/1.1 409 Conflict"
	status424 = "HTTP/1.1 424 Failed Dependency"
	status507 = "HTTP/1.1 507 Insufficient Storage"
)

// prefixes fixes the prefix of the namespaces orgdav answers in, declared
// once on the multistatus root.
var prefixes = map[string]string{nsDAV: "D", nsCard: "C", nsCS: "CS"}

const msOpen = `<?xml version="1.0" encoding="utf-8"?>` + "\n" +
	`<D:multistatus xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav" xmlns:CS="http://calendarserver.org/ns/">`

// qualified is a name as written in a closing tag.
func qualified(n xml.Name) string {
	switch p, ok := prefixes[n.Space]; {
	case ok:
		return p + ":" + n.Local
	case n.Space == nsXML:
		return "xml:" + n.Local
	case n.Space == "":
		return n.Local
	}
	return "X:" + n.Local
}

// emptyTag renders <P:local/> for a property name, declaring a foreign
// namespace inline.
func emptyTag(n xml.Name) string {
	if p, ok := prefixes[n.Space]; ok {
		return "<" + p + ":" + n.Local + "/>"
	}
	if n.Space == nsXML {
		// Bound to xml: by XML itself; declaring it again is an error.
		return "<xml:" + n.Local + "/>"
	}
	if n.Space == "" {
		return "<" + n.Local + ` xmlns=""/>`
	}
	var b strings.Builder
	b.WriteString("<X:")
	b.WriteString(n.Local)
	b.WriteString(` xmlns:X="`)
	xml.EscapeText(&b, []byte(n.Space))
	b.WriteString(`"/>`)
	return b.String()
}

// ms streams a multistatus body through a 32 KiB buffer.
type ms struct {
	w *bufio.Writer
}

var bufPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 32<<10) }}
var gzPool = sync.Pool{New: func() any {
	z, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return z
}}

// body prepares a streamed response body, gzip-compressed when the client
// accepts it. The returned finish flushes and releases everything.
func body(w http.ResponseWriter, r *http.Request, contentType string, status int) (*bufio.Writer, func() error) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Add("Vary", "Accept-Encoding")
	var out io.Writer = w
	var z *gzip.Writer
	if acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		z = gzPool.Get().(*gzip.Writer)
		z.Reset(w)
		out = z
	}
	w.WriteHeader(status)
	bw := bufPool.Get().(*bufio.Writer)
	bw.Reset(out)
	return bw, func() error {
		err := bw.Flush()
		bw.Reset(nil)
		bufPool.Put(bw)
		if z != nil {
			if cerr := z.Close(); err == nil {
				err = cerr
			}
			z.Reset(io.Discard)
			gzPool.Put(z)
		}
		return err
	}
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") {
			return !strings.Contains(strings.ReplaceAll(q, " ", ""), "q=0") || strings.Contains(q, "q=0.")
		}
	}
	return false
}

func (m ms) open()  { m.w.WriteString(msOpen) }
func (m ms) close() { m.w.WriteString("</D:multistatus>") }

func (m ms) respStart(href string) {
	m.w.WriteString("<D:response><D:href>")
	escapeTo(m.w, href)
	m.w.WriteString("</D:href>")
}

func (m ms) respEnd() { m.w.WriteString("</D:response>") }

// statusOnly writes a response that has a status and no properties.
func (m ms) statusOnly(href, status string) {
	m.respStart(href)
	m.w.WriteString("<D:status>")
	m.w.WriteString(status)
	m.w.WriteString("</D:status>")
	m.respEnd()
}

func (m ms) propstatOpen() { m.w.WriteString("<D:propstat><D:prop>") }

func (m ms) propstatClose(status string) {
	m.w.WriteString("</D:prop><D:status>")
	m.w.WriteString(status)
	m.w.WriteString("</D:status></D:propstat>")
}

// escapeTo writes s as XML character data.
func escapeTo(w *bufio.Writer, s string) {
	// A read-only view of the string's bytes: no copy on the hot path.
	escapeBytesTo(w, unsafe.Slice(unsafe.StringData(s), len(s)))
}

// escapeBytesTo writes b as XML character data. CR is written as &#13; so
// the CRLF line ends of vCards survive XML's line-end normalisation. What
// XML cannot carry at all (control characters, invalid UTF-8, U+FFFE and
// U+FFFF) becomes U+FFFD, as encoding/xml does: whatever a directory, a
// stored card or a request path holds, the response stays well-formed.
// This is the hot path of every listing: one table look-up per byte.
func escapeBytesTo(w *bufio.Writer, b []byte) {
	// Escaped into the writer's free space: no copy unless it is full.
	w.Write(appendXML(w.AvailableBuffer(), b))
}

// appendXML appends b escaped as escapeBytesTo writes it. Every card a
// report sends once passes here, so the usual bytes (printable ASCII) are
// skipped in a tight loop and copied in runs.
func appendXML(dst, b []byte) []byte {
	last := 0
	for i := 0; i < len(b); {
		class := escapeClass[b[i]]
		if class == copyByte {
			i++
			continue
		}
		esc, size := "\uFFFD", 1
		switch class {
		case escapeByte:
			esc = escapes[b[i]]
		case multiByte:
			r, n := utf8.DecodeRune(b[i:])
			if (r != utf8.RuneError || n > 1) && r != 0xFFFE && r != 0xFFFF {
				i += n
				continue
			}
			size = n
		}
		dst = append(dst, b[last:i]...)
		dst = append(dst, esc...)
		i += size
		last = i
	}
	return append(dst, b[last:]...)
}

// What escapeBytesTo does with a byte.
const (
	copyByte    = iota // as it is
	escapeByte         // as its entity
	multiByte          // a character of several bytes: checked
	replaceByte        // with U+FFFD
)

var escapes = [256]string{'&': "&amp;", '<': "&lt;", '>': "&gt;", '\r': "&#13;", '"': "&quot;"}

var escapeClass = func() (t [256]uint8) {
	for c := range t {
		switch {
		case escapes[byte(c)] != "":
			t[c] = escapeByte
		case c == '\t' || c == '\n' || c >= 0x20 && c < utf8.RuneSelf:
			t[c] = copyByte
		case c < 0x20:
			t[c] = replaceByte
		default:
			t[c] = multiByte
		}
	}
	return t
}()

// xmlError writes a DAV:error body with one precondition element.
func xmlError(w http.ResponseWriter, status int, inner string) {
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, `<?xml version="1.0" encoding="utf-8"?>`+"\n"+
		`<D:error xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">`+inner+`</D:error>`)
}
