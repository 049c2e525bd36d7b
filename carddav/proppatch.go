package carddav

import (
	"encoding/xml"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/orgdav/orgdav/store"
)

// PROPPATCH (RFC 4918 9.2) writes what clients really set: a writable
// book's name and description (renaming a book in DAVx5 or Thunderbird),
// Apple's me-card on the home (macOS Contacts sets it; refusing it has
// been reported to crash AddressBook.app), and their own dead properties.
// The Company book, the principal and cards keep refusing, per property.

// Bounds on what clients may store on a collection.
const (
	maxSetProps  = 32      // properties kept per collection
	maxPropBytes = 4 << 10 // one property's value
	maxTextProp  = 1 << 10 // a description
	maxNameProp  = 256     // a display name
)

var (
	propDisplayName = xml.Name{Space: nsDAV, Local: "displayname"}
	propDescription = xml.Name{Space: nsCard, Local: "addressbook-description"}
	propMeCard      = xml.Name{Space: nsCS, Local: "me-card"}
)

// liveProps are computed by the server: no client sets or removes them.
var liveProps = func() map[xml.Name]bool {
	m := map[xml.Name]bool{}
	for _, n := range collectionAllprops {
		m[n] = true
	}
	for _, local := range []string{"getetag", "getcontenttype", "getcontentlength", "getlastmodified", "creationdate",
		"lockdiscovery", "supportedlock", "principal-collection-set", "group-membership", "quota-available-bytes",
		"quota-used-bytes", "resource-id", "add-member",
		// RFC 3744's
		"acl", "acl-restrictions", "supported-privilege-set", "inherited-acl-set", "alternate-URI-set", "group-member-set"} {
		m[xml.Name{Space: nsDAV, Local: local}] = true
	}
	for _, local := range []string{"address-data", "max-image-size", "supported-collation-set"} {
		m[xml.Name{Space: nsCard, Local: local}] = true
	}
	return m
}()

// propOp is one set or remove of a PROPPATCH, and the status it gets.
type propOp struct {
	name   xml.Name
	remove bool
	value  string // inner XML, for a set
	status string // why it is refused; "" when it may go ahead
}

func (s *Server) proppatch(w http.ResponseWriter, r *http.Request, rt route, v *viewer) {
	root, err := parseXML(r.Body)
	if err != nil {
		readBodyError(w, err)
		return
	}
	if !root.is(nsDAV, "propertyupdate") {
		http.Error(w, "Bad request: expected DAV:propertyupdate.", http.StatusBadRequest)
		return
	}
	scope := ""
	switch rt.kind {
	case routeHome:
		scope = store.PropsHome
	case routeBook:
		scope = propScope(s.book(v, rt.book))
	}
	if rt.kind == routeCard {
		if _, ok := s.book(v, rt.book).find(rt.card); !ok {
			http.Error(w, "Not found.", http.StatusNotFound)
			return
		}
	}
	var ops []propOp
	for _, op := range root.children {
		remove := op.is(nsDAV, "remove")
		p := op.child(nsDAV, "prop")
		if !remove && !op.is(nsDAV, "set") || p == nil || len(p.children) == 0 {
			// RFC 4918 14.19: set or remove, each naming a property.
			http.Error(w, "Bad request: propertyupdate holds set and remove, each with a prop naming properties.", http.StatusBadRequest)
			return
		}
		for _, c := range p.children {
			ops = append(ops, checkPropOp(scope, c, remove))
		}
	}
	if len(ops) == 0 {
		http.Error(w, "Bad request: propertyupdate holds set and remove, each with a prop naming properties.", http.StatusBadRequest)
		return
	}
	if len(ops) > maxProps {
		readBodyError(w, errTooManyProps)
		return
	}
	failed := false
	for _, op := range ops {
		failed = failed || op.status != ""
	}
	if !failed && scope != "" {
		set, removed := map[store.PropName]string{}, []store.PropName(nil)
		for _, op := range ops { // in document order: the last one wins
			n := store.PropName{Space: op.name.Space, Local: op.name.Local}
			if op.remove {
				delete(set, n)
				removed = append(removed, n)
			} else {
				set[n] = op.value
			}
		}
		switch err := s.store.PatchProps(v.user, scope, set, removed, maxSetProps); {
		case errors.Is(err, store.ErrTooManyProps):
			for i := range ops {
				ops[i].status = status507
			}
		case err != nil:
			s.log.Error("storing properties failed", "user", v.user, "scope", scope, "err", err)
			http.Error(w, "Internal error storing the properties; nothing was changed. Try again.", http.StatusInternalServerError)
			return
		}
	}
	if failed {
		// All or nothing (RFC 4918 9.2): what could go ahead did not.
		for i := range ops {
			if ops[i].status == "" {
				ops[i].status = status424
			}
		}
	}
	bw, finish := body(w, r, "application/xml; charset=utf-8", http.StatusMultiStatus)
	m := ms{bw}
	m.open()
	m.respStart(rt.href())
	for _, status := range []string{status200, status403, status409, status424, status507} {
		opened := false
		for _, op := range ops {
			if op.status != status && !(status == status200 && op.status == "") {
				continue
			}
			if !opened {
				m.propstatOpen()
				opened = true
			}
			m.w.WriteString(emptyTag(op.name))
		}
		switch {
		case !opened:
		case status == status403 && scope != "":
			// The writable collection's own live properties.
			m.w.WriteString("</D:prop><D:status>" + status + "</D:status><D:error><D:cannot-modify-protected-property/></D:error></D:propstat>")
		default:
			m.propstatClose(status)
		}
	}
	m.respEnd()
	m.close()
	_ = finish()
}

// checkPropOp decides whether one property may be set or removed on the
// collection scope names: the home, a writable book's (propScope), or ""
// for one nobody writes.
func checkPropOp(scope string, p *node, remove bool) propOp {
	op := propOp{name: p.name, remove: remove}
	switch {
	case scope == "":
		op.status = status403
	case op.name == propDisplayName || op.name == propDescription:
		limit := maxNameProp
		if op.name == propDescription {
			limit = maxTextProp
		}
		switch {
		case scope == store.PropsHome:
			op.status = status403
		case remove:
		case len(p.children) > 0 || len(p.text) > limit:
			op.status = status409 // text of bounded length only
		case strings.TrimSpace(p.text) == "":
			// No name at all: the default again (Outlook skips books
			// without one).
			op.remove = true
		default:
			op.value = textXML(strings.TrimSpace(p.text))
		}
	case op.name == propMeCard:
		href := p.child(nsDAV, "href")
		switch {
		case scope != store.PropsHome:
			op.status = status403
		case remove:
		case href == nil || len(p.children) != 1 || len(href.text) > maxNameProp*4:
			op.status = status409 // one DAV:href, to the person's card
		default:
			op.value = hrefXML(strings.TrimSpace(href.text))
		}
	case liveProps[op.name]:
		op.status = status403
	case !remove:
		var b strings.Builder
		if !writeInner(&b, p, maxPropBytes) {
			op.status = status507
			break
		}
		op.value = b.String()
	}
	return op
}

// writeInner writes an element's content back as XML, at most limit
// bytes (it reports false past them, having stopped): its text and its
// child elements, each declaring the namespace it is in (the prefixes of
// the multistatus root excepted), with their plain attributes, each once.
// Text comes before the children, and namespaced attributes (xml:lang)
// are not kept.
func writeInner(b *strings.Builder, n *node, limit int) bool {
	xml.EscapeText(b, []byte(n.text))
	for _, c := range n.children {
		if b.Len() > limit {
			return false
		}
		open := emptyTag(c.name)
		b.WriteString(open[:len(open)-2])
		var seen []string
		for _, a := range c.attrs {
			// Namespace declarations: each element has its own. A name
			// twice, or one with a colon, would not be well-formed.
			if a.Name.Space != "" || a.Name.Local == "xmlns" || a.Name.Local == "" || strings.Contains(a.Name.Local, ":") || slices.Contains(seen, a.Name.Local) {
				continue
			}
			seen = append(seen, a.Name.Local)
			b.WriteString(" " + a.Name.Local + `="`)
			xml.EscapeText(b, []byte(a.Value))
			b.WriteString(`"`)
		}
		b.WriteString(">")
		if !writeInner(b, c, limit) {
			return false
		}
		b.WriteString("</" + qualified(c.name) + ">")
	}
	return b.Len() <= limit
}
