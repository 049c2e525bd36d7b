package carddav

import (
	"bufio"
	"encoding/xml"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/orgdav/orgdav/store"
)

// propValue returns a property's inner XML, or false when the resource
// does not have it.
type propValue func(n xml.Name) (string, bool)

const (
	privRead     = `<D:privilege><D:read/></D:privilege><D:privilege><D:read-current-user-privilege-set/></D:privilege>`
	privWritable = privRead + `<D:privilege><D:write/></D:privilege><D:privilege><D:write-content/></D:privilege>` +
		`<D:privilege><D:write-properties/></D:privilege><D:privilege><D:bind/></D:privilege><D:privilege><D:unbind/></D:privilege>`
	bookReports = `<D:supported-report><D:report><D:sync-collection/></D:report></D:supported-report>` +
		`<D:supported-report><D:report><C:addressbook-multiget/></D:report></D:supported-report>` +
		`<D:supported-report><D:report><C:addressbook-query/></D:report></D:supported-report>`
	addressData = `<C:address-data-type content-type="text/vcard" version="3.0"/><C:address-data-type content-type="text/vcard" version="4.0"/>`
)

func hrefXML(p string) string {
	var b strings.Builder
	b.WriteString("<D:href>")
	xml.EscapeText(&b, []byte(p))
	b.WriteString("</D:href>")
	return b.String()
}

func textXML(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// allprops lists what allprop and propname return for collections.
var collectionAllprops = []xml.Name{
	{Space: nsDAV, Local: "resourcetype"}, {Space: nsDAV, Local: "displayname"},
	{Space: nsDAV, Local: "owner"}, {Space: nsDAV, Local: "current-user-privilege-set"},
	{Space: nsDAV, Local: "supported-report-set"}, {Space: nsDAV, Local: "sync-token"},
	{Space: nsCS, Local: "getctag"}, {Space: nsCard, Local: "addressbook-description"},
	{Space: nsCard, Local: "supported-address-data"}, {Space: nsCard, Local: "max-resource-size"},
	{Space: nsCard, Local: "addressbook-home-set"}, {Space: nsDAV, Local: "principal-URL"},
	{Space: nsDAV, Local: "current-user-principal"},
}

func (s *Server) rootProps(v *viewer) propValue {
	return func(n xml.Name) (string, bool) {
		switch n {
		case xml.Name{Space: nsDAV, Local: "current-user-principal"}, xml.Name{Space: nsDAV, Local: "principal-URL"}:
			return hrefXML(principalPath(v.user)), true
		case xml.Name{Space: nsCard, Local: "addressbook-home-set"}:
			return hrefXML(homePath(v.user)), true
		case xml.Name{Space: nsDAV, Local: "resourcetype"}:
			return "<D:collection/>", true
		case xml.Name{Space: nsDAV, Local: "displayname"}:
			return "orgdav", true
		case xml.Name{Space: nsDAV, Local: "current-user-privilege-set"}:
			return privRead, true
		}
		return "", false
	}
}

func (s *Server) principalProps(v *viewer) propValue {
	return func(n xml.Name) (string, bool) {
		switch n {
		case xml.Name{Space: nsDAV, Local: "resourcetype"}:
			return "<D:collection/><D:principal/>", true
		case xml.Name{Space: nsDAV, Local: "displayname"}:
			if e, err := s.store.Person(v.item.Name); err == nil {
				return textXML(e.DisplayName), true
			}
			return textXML(v.user), true
		case xml.Name{Space: nsDAV, Local: "current-user-principal"}, xml.Name{Space: nsDAV, Local: "principal-URL"}:
			return hrefXML(principalPath(v.user)), true
		case xml.Name{Space: nsCard, Local: "addressbook-home-set"}:
			return hrefXML(homePath(v.user)), true
		case xml.Name{Space: nsDAV, Local: "principal-collection-set"}:
			return hrefXML("/dav/principals/"), true
		case xml.Name{Space: nsDAV, Local: "supported-report-set"}, xml.Name{Space: nsDAV, Local: "group-membership"}:
			return "", true
		case xml.Name{Space: nsDAV, Local: "current-user-privilege-set"}:
			return privRead, true
		}
		return "", false
	}
}

// withStored answers a resource's properties: those clients set on it
// (stored, already inner XML) before the live ones.
func withStored(stored map[xml.Name]string, live propValue) propValue {
	if len(stored) == 0 {
		return live
	}
	return func(n xml.Name) (string, bool) {
		if v, ok := stored[n]; ok {
			return v, true
		}
		return live(n)
	}
}

// storedNames lists the properties clients set, for allprop.
func storedNames(stored map[xml.Name]string) []xml.Name {
	names := make([]xml.Name, 0, len(stored))
	for n := range stored {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b xml.Name) int { return strings.Compare(a.Space+" "+a.Local, b.Space+" "+b.Local) })
	return names
}

// stored reads what clients set on one of the user's collections.
func (s *Server) stored(user, scope string) map[xml.Name]string {
	props, err := s.store.Props(user, scope)
	if err != nil {
		s.log.Error("reading a collection's properties failed; serving the defaults", "user", user, "scope", scope, "err", err)
		return nil
	}
	out := make(map[xml.Name]string, len(props))
	for n, v := range props {
		out[xml.Name{Space: n.Space, Local: n.Local}] = v
	}
	return out
}

// principalsProps answers for /dav/principals/, the collection of principals.
func (s *Server) principalsProps(v *viewer) propValue {
	return func(n xml.Name) (string, bool) {
		switch n {
		case xml.Name{Space: nsDAV, Local: "resourcetype"}:
			return "<D:collection/>", true
		case xml.Name{Space: nsDAV, Local: "displayname"}:
			return "Principals", true
		case xml.Name{Space: nsDAV, Local: "current-user-principal"}:
			return hrefXML(principalPath(v.user)), true
		case xml.Name{Space: nsDAV, Local: "current-user-privilege-set"}:
			return privRead, true
		}
		return "", false
	}
}

func (s *Server) homeProps(v *viewer) propValue {
	return func(n xml.Name) (string, bool) {
		switch n {
		case xml.Name{Space: nsDAV, Local: "resourcetype"}:
			return "<D:collection/>", true
		case xml.Name{Space: nsDAV, Local: "displayname"}:
			return "Address books", true
		case xml.Name{Space: nsDAV, Local: "owner"}, xml.Name{Space: nsDAV, Local: "current-user-principal"}:
			return hrefXML(principalPath(v.user)), true
		case xml.Name{Space: nsDAV, Local: "current-user-privilege-set"}:
			// Its properties may be written (Apple's me-card), its
			// members not.
			return privRead + `<D:privilege><D:write-properties/></D:privilege>`, true
		case xml.Name{Space: nsDAV, Local: "supported-report-set"}:
			return "", true
		}
		return "", false
	}
}

func (s *Server) bookProps(v *viewer, b book) propValue {
	return func(n xml.Name) (string, bool) {
		switch n {
		case xml.Name{Space: nsDAV, Local: "resourcetype"}:
			return "<D:collection/><C:addressbook/>", true
		case xml.Name{Space: nsDAV, Local: "displayname"}:
			return textXML(b.displayName()), true
		case xml.Name{Space: nsCard, Local: "addressbook-description"}:
			return textXML(b.description()), true
		case xml.Name{Space: nsCS, Local: "getctag"}, xml.Name{Space: nsDAV, Local: "sync-token"}:
			return textXML(b.token()), true
		case xml.Name{Space: nsDAV, Local: "supported-report-set"}:
			return bookReports, true
		case xml.Name{Space: nsDAV, Local: "current-user-privilege-set"}:
			if b.writable() {
				return privWritable, true
			}
			return privRead, true
		case xml.Name{Space: nsDAV, Local: "owner"}, xml.Name{Space: nsDAV, Local: "current-user-principal"}:
			return hrefXML(principalPath(v.user)), true
		case xml.Name{Space: nsCard, Local: "supported-address-data"}:
			return addressData, true
		case xml.Name{Space: nsCard, Local: "max-resource-size"}:
			return strconv.FormatInt(s.opt.MaxCardBytes, 10), true
		}
		return "", false
	}
}

// writeProps writes one response for a collection: the 200 propstat first,
// then a 404 propstat for what the resource does not have. allprop and
// propname cover the live properties and those clients set (set).
func writeProps(m ms, href string, pr propRequest, get propValue, set []xml.Name) {
	names := pr.props
	if pr.allprop || pr.propname {
		names = slices.Clone(collectionAllprops)
		for _, n := range set {
			if !slices.Contains(collectionAllprops, n) { // a renamed book's name is there already
				names = append(names, n)
			}
		}
	}
	m.respStart(href)
	var missing []xml.Name
	opened := false
	for _, n := range names {
		val, ok := get(n)
		if !ok {
			if !pr.allprop && !pr.propname {
				missing = append(missing, n)
			}
			continue
		}
		if !opened {
			m.propstatOpen()
			opened = true
		}
		if pr.propname || val == "" {
			m.w.WriteString(emptyTag(n))
			continue
		}
		writeElement(m.w, n, val)
	}
	if opened {
		m.propstatClose(status200)
	}
	if !opened && len(missing) == 0 {
		// Nothing asked for: still a propstat (RFC 4918 14.24).
		m.w.WriteString("<D:propstat><D:prop/><D:status>" + status200 + "</D:status></D:propstat>")
	}
	if len(missing) > 0 {
		m.propstatOpen()
		for _, n := range missing {
			m.w.WriteString(emptyTag(n))
		}
		m.propstatClose(status404)
	}
	m.respEnd()
}

func writeElement(w *bufio.Writer, n xml.Name, inner string) {
	open := emptyTag(n)
	w.WriteString(open[:len(open)-2] + ">")
	w.WriteString(inner)
	w.WriteString("</" + qualified(n) + ">")
}

func depth(r *http.Request) string {
	switch d := strings.TrimSpace(r.Header.Get("Depth")); d {
	case "0":
		return "0"
	default:
		// Absent or infinity: books have no sub-collections, so 1 is exact,
		// and it spares the home set an expansion into every card.
		return "1"
	}
}

func (s *Server) propfind(w http.ResponseWriter, r *http.Request, rt route, v *viewer) {
	pr, err := parsePropfind(r.Body)
	if err != nil {
		readBodyError(w, err)
		return
	}
	if rt.kind == routeCard {
		s.propfindCard(w, r, rt, v, pr)
		return
	}
	bw, finish := body(w, r, "application/xml; charset=utf-8", http.StatusMultiStatus)
	m := ms{bw}
	m.open()
	switch rt.kind {
	case routeRoot, routeWellKnown:
		writeProps(m, rt.href(), pr, s.rootProps(v), nil)
	case routePrincipals:
		writeProps(m, "/dav/principals/", pr, s.principalsProps(v), nil)
		if depth(r) == "1" {
			writeProps(m, principalPath(v.user), pr, s.principalProps(v), nil)
		}
	case routePrincipal:
		writeProps(m, principalPath(v.user), pr, s.principalProps(v), nil)
	case routeHome:
		home := s.stored(v.user, store.PropsHome)
		writeProps(m, homePath(v.user), pr, withStored(home, s.homeProps(v)), storedNames(home))
		if depth(r) == "1" {
			for _, b := range s.books(v) {
				s.writeBookProps(m, pr, v, b)
			}
		}
	case routeBook:
		b := s.book(v, rt.book)
		href := bookPath(v.user, b.id())
		s.writeBookProps(m, pr, v, b)
		if depth(r) == "1" {
			plan := newCardPlan(pr)
			defer plan.release()
			b.list(func(mem member) bool {
				s.writeMember(m, b, href, mem, &plan, nil)
				return true
			})
		}
	}
	m.close()
	if err := finish(); err != nil {
		s.log.Debug("writing PROPFIND response failed", "path", r.URL.Path, "err", err)
	}
}

// propScope names where the properties clients set on a book are stored,
// each book its own: the personal book's where they always were, a shared
// list's book's under its id (only its viewer sees them, so one editor's
// name for a list is theirs alone); "" for a book nobody writes.
func propScope(b book) string {
	switch {
	case !b.writable():
		return ""
	case b.id() == bookPersonal:
		return store.PropsPersonal
	}
	return b.id() // "shared-" + list id: never the home's or the personal book's
}

// writeBookProps writes a book's response, with what its owner set on it.
func (s *Server) writeBookProps(m ms, pr propRequest, v *viewer, b book) {
	var set map[xml.Name]string
	if scope := propScope(b); scope != "" {
		set = s.stored(v.user, scope)
	}
	writeProps(m, bookPath(v.user, b.id()), pr, withStored(set, s.bookProps(v, b)), storedNames(set))
}

func (s *Server) propfindCard(w http.ResponseWriter, r *http.Request, rt route, v *viewer, pr propRequest) {
	b := s.book(v, rt.book)
	etag, ok := b.find(rt.card)
	if !ok {
		http.Error(w, "Not found.", http.StatusNotFound)
		return
	}
	bw, finish := body(w, r, "application/xml; charset=utf-8", http.StatusMultiStatus)
	m := ms{bw}
	m.open()
	plan := newCardPlan(pr)
	defer plan.release()
	s.writeMember(m, b, bookPath(v.user, b.id()), member{seg: rt.card, etag: []byte(etag)}, &plan, nil)
	m.close()
	if err := finish(); err != nil {
		s.log.Debug("writing PROPFIND response failed", "path", r.URL.Path, "err", err)
	}
}
