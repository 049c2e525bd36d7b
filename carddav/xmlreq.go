package carddav

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

const (
	nsDAV  = "DAV:"
	nsCard = "urn:ietf:params:xml:ns:carddav"
	nsCS   = "http://calendarserver.org/ns/"
	// The namespaces XML reserves: xml: is bound without a declaration,
	// xmlns: may name no element.
	nsXML   = "http://www.w3.org/XML/1998/namespace"
	nsXMLNS = "http://www.w3.org/2000/xmlns/"
)

// node is a parsed XML element.
type node struct {
	name     xml.Name
	attrs    []xml.Attr
	children []*node
	text     string
	// buf gathers the text while the element is open: comments and
	// processing instructions split it into many pieces, and joining
	// them one by one would cost quadratic time.
	buf []byte
}

// addText gathers one piece of an element's text, as either parser reads
// it. Text in one piece, the usual case, is kept as it comes; only a
// second piece starts the buffer.
func addText[T string | []byte](n *node, t T) {
	switch {
	case n.buf != nil:
		n.buf = append(n.buf, t...)
	case n.text == "":
		n.text = string(t)
	default:
		n.buf = append(append(make([]byte, 0, 2*(len(n.text)+len(t))), n.text...), t...)
	}
}

// endText makes the gathered pieces the element's text, once it closes.
func (n *node) endText() {
	if n.buf != nil {
		n.text, n.buf = string(n.buf), nil
	}
}

func (n *node) is(space, local string) bool { return n.name.Space == space && n.name.Local == local }

func (n *node) child(space, local string) *node {
	for _, c := range n.children {
		if c.is(space, local) {
			return c
		}
	}
	return nil
}

// attr looks an attribute up case-insensitively: vdirsyncer sends
// Content-Type where RFC 6352 says content-type.
func (n *node) attr(local string) string {
	for _, a := range n.attrs {
		if strings.EqualFold(a.Name.Local, local) {
			return a.Value
		}
	}
	return ""
}

const (
	maxXMLDepth    = 32
	maxXMLElements = 200000
	// Names are echoed (404 and 403 propstats) and stored (PROPPATCH):
	// their length is bounded like any value.
	maxXMLName      = 256
	maxXMLNamespace = 1024
)

var (
	errEmptyBody   = errors.New("empty body")
	errXMLTooLarge = errors.New("XML has too many elements or is nested too deeply")
)

// parseXML reads a request body into a tree: a body of the usual size and
// shape through fastXML, anything else through encoding/xml.
func parseXML(r io.Reader) (*node, error) {
	s, whole, err := readSmall(r, maxFastXML)
	if err != nil {
		return nil, fmt.Errorf("malformed XML: %w", err)
	}
	if !whole {
		return decodeXML(io.MultiReader(strings.NewReader(s), r))
	}
	if n, ok := fastXML(s); ok {
		return n, nil
	}
	return decodeXML(strings.NewReader(s))
}

// decodeXML parses with encoding/xml. DTDs are refused outright, so
// entity expansion cannot happen; depth and element count are bounded.
func decodeXML(r io.Reader) (*node, error) {
	d := xml.NewDecoder(r)
	d.Strict = true
	var stack []*node
	var root *node
	count := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("malformed XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return nil, errors.New("DTDs and entity declarations are not accepted")
		case xml.StartElement:
			count++
			if count > maxXMLElements || len(stack) >= maxXMLDepth {
				return nil, errXMLTooLarge
			}
			// XML 1.0 lets a name hold colons that namespaces do not: such
			// a name cannot be echoed back (a 404 propstat) as well-formed
			// namespaced XML.
			if t.Name.Local == "" || strings.Contains(t.Name.Local, ":") || t.Name.Space == nsXMLNS || t.Name.Space == "xmlns" {
				return nil, fmt.Errorf("malformed XML: element name %q", t.Name.Local)
			}
			if len(t.Name.Local) > maxXMLName || len(t.Name.Space) > maxXMLNamespace {
				return nil, fmt.Errorf("an element name or namespace longer than %d or %d bytes", maxXMLName, maxXMLNamespace)
			}
			n := &node{name: t.Name, attrs: t.Attr}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.children = append(p.children, n)
			} else if root != nil {
				return nil, errors.New("malformed XML: more than one root element")
			} else {
				root = n
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack[len(stack)-1].endText()
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				continue
			}
			addText(stack[len(stack)-1], []byte(t))
		}
	}
	if root == nil {
		return nil, errEmptyBody
	}
	return root, nil
}

// propRequest is a PROPFIND or REPORT's property selection.
type propRequest struct {
	allprop  bool
	propname bool
	props    []xml.Name
	// wantV4: the address-data asked for is vCard 4.0.
	wantV4 bool
}

// maxProps bounds the properties one request may ask for: each unknown
// one is answered (404) once per card of a listing. Clients ask for 30 at
// most.
const maxProps = 256

var errTooManyProps = fmt.Errorf("more than %d properties in one request", maxProps)

// errAddressDataType is refused with CARDDAV:supported-address-data.
type errAddressDataType struct{ what string }

func (e *errAddressDataType) Error() string { return e.what }

// addressDataVersion reads an address-data element's media type and
// version (RFC 6352 10.4; defaults text/vcard and 3.0): whether 4.0 is
// wanted, or why it cannot be served. vdirsyncer capitalises the names.
func addressDataVersion(n *node) (v4 bool, err error) {
	ct, version := strings.TrimSpace(n.attr("content-type")), strings.TrimSpace(n.attr("version"))
	if mt, _, _ := strings.Cut(ct, ";"); ct != "" && !strings.EqualFold(strings.TrimSpace(mt), "text/vcard") {
		return false, &errAddressDataType{fmt.Sprintf("address-data of type %q: this server serves text/vcard", ct)}
	}
	switch version {
	case "", "3.0":
		return false, nil
	case "4.0":
		return true, nil
	}
	return false, &errAddressDataType{fmt.Sprintf("address-data version %q: this server serves 3.0 and 4.0", version)}
}

// parsePropSpec reads what a REPORT asks of each card: prop, allprop or
// propname (RFC 4918 14.2, RFC 6352 8.7).
func parsePropSpec(root *node) (propRequest, error) {
	switch {
	case root.child(nsDAV, "allprop") != nil:
		return propRequest{allprop: true}, nil
	case root.child(nsDAV, "propname") != nil:
		return propRequest{propname: true}, nil
	}
	return parseProp(root.child(nsDAV, "prop"))
}

func parseProp(prop *node) (propRequest, error) {
	var pr propRequest
	if prop == nil {
		return pr, nil
	}
	if len(prop.children) > maxProps {
		return pr, errTooManyProps
	}
	for _, c := range prop.children {
		// At most maxProps: a scan costs less than a map for the few
		// clients send.
		if slices.Contains(pr.props, c.name) {
			continue
		}
		pr.props = append(pr.props, c.name)
		if c.is(nsCard, "address-data") {
			var err error
			if pr.wantV4, err = addressDataVersion(c); err != nil {
				return pr, err
			}
		}
	}
	return pr, nil
}

// parsePropfind reads a PROPFIND body; an empty body means allprop.
func parsePropfind(r io.Reader) (propRequest, error) {
	root, err := parseXML(r)
	if err == errEmptyBody {
		return propRequest{allprop: true}, nil
	}
	if err != nil {
		return propRequest{}, err
	}
	if !root.is(nsDAV, "propfind") {
		return propRequest{}, fmt.Errorf("expected DAV:propfind, got %s %s", root.name.Space, root.name.Local)
	}
	switch {
	case root.child(nsDAV, "propname") != nil:
		return propRequest{propname: true}, nil
	case root.child(nsDAV, "allprop") != nil:
		return propRequest{allprop: true}, nil
	case root.child(nsDAV, "prop") != nil:
		return parseProp(root.child(nsDAV, "prop"))
	}
	return propRequest{}, errors.New("DAV:propfind needs prop, allprop or propname")
}

// syncRequest is a DAV:sync-collection REPORT.
type syncRequest struct {
	token string
	limit int // 0: none
	prop  propRequest
}

// multigetRequest is a CARDDAV:addressbook-multiget REPORT.
type multigetRequest struct {
	prop  propRequest
	hrefs []string
}

func parseLimit(n *node) (int, error) {
	if n == nil {
		return 0, nil
	}
	nr := n.child(nsDAV, "nresults")
	if nr == nil {
		nr = n.child(nsCard, "nresults")
	}
	if nr == nil {
		return 0, errors.New("limit without nresults")
	}
	v, err := strconv.Atoi(strings.TrimSpace(nr.text))
	if err != nil || v < 1 {
		return 0, fmt.Errorf("nresults %q: want a positive integer", nr.text)
	}
	return v, nil
}

func parseSync(root *node) (syncRequest, error) {
	var sr syncRequest
	if t := root.child(nsDAV, "sync-token"); t != nil {
		sr.token = strings.TrimSpace(t.text)
	}
	if l := root.child(nsDAV, "sync-level"); l != nil {
		if v := strings.TrimSpace(l.text); v != "1" && v != "infinite" {
			return sr, fmt.Errorf("sync-level %q: want 1 or infinite", v)
		}
	}
	var err error
	if sr.limit, err = parseLimit(root.child(nsDAV, "limit")); err != nil {
		return sr, err
	}
	sr.prop, err = parsePropSpec(root)
	return sr, err
}

// parseMultiget reads the hrefs asked for, each once: a card asked for a
// thousand times is answered once.
func parseMultiget(root *node) (multigetRequest, error) {
	var mr multigetRequest
	var err error
	if mr.prop, err = parsePropSpec(root); err != nil {
		return mr, err
	}
	seen := make(map[string]struct{}, len(root.children))
	mr.hrefs = make([]string, 0, len(root.children))
	for _, c := range root.children {
		h := strings.TrimSpace(c.text)
		if _, dup := seen[h]; c.is(nsDAV, "href") && !dup {
			seen[h] = struct{}{}
			mr.hrefs = append(mr.hrefs, h)
		}
	}
	return mr, nil
}
