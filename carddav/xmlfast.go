package carddav

import (
	"encoding/xml"
	"io"
	"strings"
	"sync"
	"unicode/utf8"
)

// maxFastXML is the largest body parseXML reads whole for fastXML: a
// multiget of 1,000 cards is about 80 KiB. Larger bodies stream through
// encoding/xml, so a request never holds more than this in a buffer.
const maxFastXML = 256 << 10

var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// readSmall reads r whole if it ends within max bytes. Otherwise it
// returns what it read and false, and the rest is still in r.
func readSmall(r io.Reader, max int) (string, bool, error) {
	bp := bodyPool.Get().(*[]byte)
	defer bodyPool.Put(bp)
	b := (*bp)[:0]
	for empty := 0; ; {
		if len(b) >= max {
			*bp = b
			return string(b), false, nil
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):min(cap(b), max)])
		b = b[:len(b)+n]
		if n > 0 {
			empty = 0
		} else if empty++; empty > 100 && err == nil {
			err = io.ErrNoProgress // as bufio gives up on such a reader
		}
		if err == io.EOF {
			*bp = b
			return string(b), true, nil
		}
		if err != nil {
			*bp = b
			return "", false, err
		}
	}
}

// fastXML parses the XML that DAV clients send (elements, attributes,
// namespaces, text, the five predefined entities, an XML declaration)
// into the tree encoding/xml gives, with one allocation for all its
// elements and none for names or text that need no decoding. On anything
// else, including every error, it reports false and the caller parses
// the body with encoding/xml, which decides and words the error.
// FuzzFastXMLIsEncodingXML holds it to that.
func fastXML(s string) (*node, bool) {
	p := fastParser{s: s}
	// Every element starts with '<' and most end with "</": a client's
	// body gets one block for all its elements. The first block is capped,
	// so a body of nothing but '<' costs no more than a real one.
	p.nodes = make([]node, 0, min(strings.Count(s, "<")-strings.Count(s, "</"), 1024))
	if !p.prolog() {
		return nil, false
	}
	return p.parse()
}

type fastParser struct {
	s     string
	i     int
	nodes []node // the current block of elements; a full one is replaced, never grown
	count int
	ns    []nsBinding
	stack []openElem
}

type nsBinding struct{ prefix, uri string }

type openElem struct {
	n      *node
	raw    string // the name as written, to match the end tag
	nsMark int    // bindings before this element's own
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' }

func (p *fastParser) skipSpace() {
	for p.i < len(p.s) && isSpace(p.s[p.i]) {
		p.i++
	}
}

// prolog accepts an XML declaration that names version 1.0, UTF-8 and
// nothing else.
func (p *fastParser) prolog() bool {
	if !strings.HasPrefix(p.s, "<?xml") {
		return true
	}
	end := strings.Index(p.s, "?>")
	if end < 0 || len(p.s) < 6 || !isSpace(p.s[5]) {
		return false
	}
	decl := fastParser{s: p.s[:end], i: 5}
	for {
		decl.skipSpace()
		if decl.i == len(decl.s) {
			break
		}
		name, ok := decl.name()
		if !ok {
			return false
		}
		decl.skipSpace()
		if decl.i >= len(decl.s) || decl.s[decl.i] != '=' {
			return false
		}
		decl.i++
		decl.skipSpace()
		v, ok := decl.quoted()
		if !ok {
			return false
		}
		switch {
		case name == "version" && v == "1.0":
		case name == "encoding" && strings.EqualFold(v, "utf-8"):
		case name == "standalone" && (v == "yes" || v == "no"):
		default:
			return false
		}
	}
	p.i = end + 2
	return true
}

// quoted reads a quoted value with no markup, entity or CR in it.
func (p *fastParser) quoted() (string, bool) {
	if p.i >= len(p.s) || (p.s[p.i] != '"' && p.s[p.i] != '\'') {
		return "", false
	}
	q := p.s[p.i]
	p.i++
	start := p.i
	for ; p.i < len(p.s); p.i++ {
		switch c := p.s[p.i]; {
		case c == q:
			p.i++
			return p.s[start : p.i-1], true
		case c == '<' || c == '&' || c < 0x20 && c != '\t' && c != '\n':
			return "", false
		}
	}
	return "", false
}

// name reads an ASCII XML name with at most one colon; anything wider
// is left to encoding/xml.
func (p *fastParser) name() (string, bool) {
	start := p.i
	colon := -1
	for ; p.i < len(p.s); p.i++ {
		c := p.s[p.i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '_':
		case '0' <= c && c <= '9', c == '.', c == '-':
			if p.i == start || p.i == colon+1 {
				return "", false
			}
		case c == ':':
			if colon >= 0 || p.i == start {
				return "", false
			}
			colon = p.i
		default:
			goto done
		}
	}
done:
	if p.i == start || p.i == colon+1 {
		return "", false
	}
	return p.s[start:p.i], true
}

func splitName(raw string) (prefix, local string) {
	if i := strings.IndexByte(raw, ':'); i >= 0 {
		return raw[:i], raw[i+1:]
	}
	return "", raw
}

func (p *fastParser) lookup(prefix string) (string, bool) {
	for i := len(p.ns) - 1; i >= 0; i-- {
		if p.ns[i].prefix == prefix {
			return p.ns[i].uri, true
		}
	}
	return "", false
}

// text reads character data up to '<' or, for an attribute, its quote,
// decoding the predefined entities. It gives up on what encoding/xml
// would refuse or rewrite: CR, control characters, invalid UTF-8,
// characters outside XML's range, "]]>" in text, other references.
func (p *fastParser) text(quote byte) (string, bool) {
	start := p.i
	var dec []byte // only once an entity needs decoding
	last := start
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case quote != 0 && c == quote || quote == 0 && c == '<':
			out := p.s[start:p.i]
			if dec != nil {
				out = string(append(dec, p.s[last:p.i]...))
			}
			return out, true
		case c == '<':
			return "", false
		case c == '&':
			r, n := entityAt(p.s[p.i:])
			if n == 0 {
				return "", false
			}
			dec = append(append(dec, p.s[last:p.i]...), r)
			p.i += n
			last = p.i
		case c == '>':
			if quote == 0 && p.i >= start+2 && p.s[p.i-1] == ']' && p.s[p.i-2] == ']' {
				return "", false
			}
			p.i++
		case c < 0x20:
			if c != '\t' && c != '\n' {
				return "", false
			}
			p.i++
		case c < utf8.RuneSelf:
			p.i++
		default:
			r, n := utf8.DecodeRuneInString(p.s[p.i:])
			if r == utf8.RuneError && n == 1 || r > 0xD7FF && r < 0xE000 || r == 0xFFFE || r == 0xFFFF {
				return "", false
			}
			p.i += n
		}
	}
	if quote != 0 {
		return "", false
	}
	out := p.s[start:p.i]
	if dec != nil {
		out = string(append(dec, p.s[last:p.i]...))
	}
	return out, true
}

// entityAt reads one of the five predefined entity references.
func entityAt(s string) (byte, int) {
	for _, e := range [...]struct {
		ref string
		r   byte
	}{{"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&apos;", '\''}, {"&quot;", '"'}} {
		if strings.HasPrefix(s, e.ref) {
			return e.r, len(e.ref)
		}
	}
	return 0, 0
}

func (p *fastParser) parse() (*node, bool) {
	var root *node
	for {
		// Text: outside the root only spaces, as clients send.
		if len(p.stack) == 0 {
			p.skipSpace()
			if p.i == len(p.s) {
				return root, root != nil
			}
			if p.s[p.i] != '<' || root != nil {
				return nil, false
			}
		} else if p.i == len(p.s) {
			return nil, false
		} else if p.s[p.i] != '<' {
			t, ok := p.text(0)
			if !ok || p.i == len(p.s) {
				return nil, false
			}
			addText(p.stack[len(p.stack)-1].n, t)
			continue
		}
		p.i++ // '<'
		if p.i == len(p.s) {
			return nil, false
		}
		switch p.s[p.i] {
		case '/':
			if !p.end() {
				return nil, false
			}
			continue
		case '?', '!':
			return nil, false
		}
		n, ok := p.start()
		if !ok {
			return nil, false
		}
		if root == nil {
			root = n
		}
	}
}

func (p *fastParser) end() bool {
	p.i++
	raw, ok := p.name()
	if !ok || len(p.stack) == 0 {
		return false
	}
	p.skipSpace()
	top := p.stack[len(p.stack)-1]
	if p.i >= len(p.s) || p.s[p.i] != '>' || raw != top.raw {
		return false
	}
	p.i++
	p.pop()
	return true
}

func (p *fastParser) pop() {
	top := p.stack[len(p.stack)-1]
	top.n.endText()
	p.ns = p.ns[:top.nsMark]
	p.stack = p.stack[:len(p.stack)-1]
}

func (p *fastParser) start() (*node, bool) {
	raw, ok := p.name()
	if !ok || p.count >= maxXMLElements || len(p.stack) >= maxXMLDepth {
		return nil, false
	}
	mark := len(p.ns)
	var attrs []xml.Attr
	empty := false
	for {
		hadSpace := p.i < len(p.s) && isSpace(p.s[p.i])
		p.skipSpace()
		if p.i >= len(p.s) {
			return nil, false
		}
		if c := p.s[p.i]; c == '>' || c == '/' {
			if c == '/' {
				if p.i+1 >= len(p.s) || p.s[p.i+1] != '>' {
					return nil, false
				}
				p.i++
				empty = true
			}
			p.i++
			break
		}
		if !hadSpace {
			return nil, false
		}
		an, ok := p.name()
		if !ok {
			return nil, false
		}
		p.skipSpace()
		if p.i >= len(p.s) || p.s[p.i] != '=' {
			return nil, false
		}
		p.i++
		p.skipSpace()
		if p.i >= len(p.s) || (p.s[p.i] != '"' && p.s[p.i] != '\'') {
			return nil, false
		}
		q := p.s[p.i]
		p.i++
		v, ok := p.text(q)
		if !ok {
			return nil, false
		}
		p.i++ // the closing quote
		prefix, local := splitName(an)
		switch {
		case prefix == "xmlns":
			if local == "xml" || local == "xmlns" {
				return nil, false
			}
			p.ns = append(p.ns, nsBinding{local, v})
		case prefix == "" && local == "xmlns":
			p.ns = append(p.ns, nsBinding{"", v})
		}
		attrs = append(attrs, xml.Attr{Name: xml.Name{Space: prefix, Local: local}, Value: v})
	}
	// Bindings apply to the element's own name and attributes.
	prefix, local := splitName(raw)
	if prefix == "xml" || prefix == "xmlns" || raw == "xmlns" {
		return nil, false
	}
	space, ok := p.lookup(prefix)
	if !ok {
		space = prefix
	}
	if space == nsXMLNS || space == "xmlns" || len(local) > maxXMLName || len(space) > maxXMLNamespace {
		return nil, false
	}
	for i := range attrs {
		a := &attrs[i].Name
		switch {
		case a.Space == "xmlns", a.Space == "":
		case a.Space == "xml":
			return nil, false
		default:
			if uri, ok := p.lookup(a.Space); ok {
				a.Space = uri
			}
		}
	}
	if len(p.nodes) == cap(p.nodes) {
		// Elements point at each other: a new block, not a grown one.
		p.nodes = make([]node, 0, min(max(2*cap(p.nodes), 64), 4096))
	}
	p.nodes = append(p.nodes, node{name: xml.Name{Space: space, Local: local}, attrs: attrs})
	p.count++
	n := &p.nodes[len(p.nodes)-1]
	if len(p.stack) > 0 {
		parent := p.stack[len(p.stack)-1].n
		parent.children = append(parent.children, n)
	}
	p.stack = append(p.stack, openElem{n: n, raw: raw, nsMark: mark})
	if empty {
		p.pop()
	}
	return n, true
}
