package carddav

import (
	"bufio"
	"encoding/xml"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// cardPlan is what a request wants of each card, decided once per request
// so the per-card loop only writes.
type cardPlan struct {
	etag, ctype, rtype, data, length bool
	v4                               bool
	names                            bool   // propname: the names, without values
	missing                          string // the ready 404 propstat, or ""

	// Reused from one member to the next: a card escaped outside the
	// render cache.
	xmlBuf []byte
}

// newCardPlan decides what each card's response holds. allprop gives the
// card's live properties that need no rendering (not address-data, which
// RFC 6352 10.4 keeps out of allprop, nor the length: a listing of every
// card would render each); propname gives the names of all of them.
func newCardPlan(pr propRequest) cardPlan {
	if pr.allprop || pr.propname {
		return cardPlan{etag: true, ctype: true, rtype: true, names: pr.propname}
	}
	p := cardPlan{v4: pr.wantV4}
	var missing strings.Builder
	for _, n := range pr.props {
		switch n {
		case xml.Name{Space: nsDAV, Local: "getetag"}:
			p.etag = true
		case xml.Name{Space: nsDAV, Local: "getcontenttype"}:
			p.ctype = true
		case xml.Name{Space: nsDAV, Local: "resourcetype"}:
			p.rtype = true
		case xml.Name{Space: nsCard, Local: "address-data"}:
			p.data = true
		case xml.Name{Space: nsDAV, Local: "getcontentlength"}:
			p.length = true
		default:
			missing.WriteString(emptyTag(n))
		}
	}
	if missing.Len() > 0 {
		p.missing = "<D:propstat><D:prop>" + missing.String() + "</D:prop><D:status>" + status404 + "</D:status></D:propstat>"
	}
	return p
}

func (p *cardPlan) any200() bool { return p.etag || p.ctype || p.rtype || p.data || p.length }

// etagFinder is a book that finds a card's ETag into a buffer: a
// multiget of every card would otherwise allocate one per card.
type etagFinder interface {
	findETag(seg string, dst []byte) ([]byte, bool)
}

// xmlBook is a book that can give its cards already escaped for a
// multistatus (the Company book, from its render cache). The answer may
// live in p's buffers, valid until the next member. It gives no ETag:
// the member's is the card's (every caller of writeMember sets it).
type xmlBook interface {
	getXML(seg string, p *cardPlan) (xml []byte, rawLen int, err error)
}

// writeMember writes one card's response. Card bytes are fetched only when
// the request asks for address-data or a length, and only when the caller
// has not (card: the card as b.get gave it with p.v4 and mem.etag, or nil).
func (s *Server) writeMember(m ms, b book, bookHref string, mem member, p *cardPlan, card []byte) {
	data, length := card, len(card)
	var escaped []byte
	if (p.data || p.length) && card == nil {
		var err error
		if xb, ok := b.(xmlBook); ok {
			escaped, length, err = xb.getXML(mem.path(), p)
		} else {
			var tag string
			data, tag, err = b.get(mem.path(), p.v4)
			length = len(data)
			if err == nil {
				mem.etag = []byte(tag)
			}
		}
		if err != nil {
			m.w.WriteString("<D:response><D:href>")
			writeHref(m.w, bookHref, mem)
			m.w.WriteString("</D:href><D:status>" + status404 + "</D:status></D:response>")
			return
		}
	}
	m.w.WriteString("<D:response><D:href>")
	writeHref(m.w, bookHref, mem)
	m.w.WriteString("</D:href>")
	switch {
	case p.names:
		m.w.WriteString("<D:propstat><D:prop><D:getetag/><D:getcontenttype/><D:resourcetype/><D:getcontentlength/></D:prop><D:status>" + status200 + "</D:status></D:propstat>")
	case !p.any200() && p.missing == "":
		// Nothing asked for: the member still carries a propstat (RFC 4918
		// 14.24, RFC 6578 3.2), or clients may read it as gone.
		m.w.WriteString("<D:propstat><D:prop/><D:status>" + status200 + "</D:status></D:propstat>")
	case p.any200():
		m.w.WriteString("<D:propstat><D:prop>")
		if p.etag {
			m.w.WriteString(`<D:getetag>"`)
			m.w.Write(mem.etag)
			m.w.WriteString(`"</D:getetag>`)
		}
		if p.ctype {
			m.w.WriteString("<D:getcontenttype>text/vcard; charset=utf-8</D:getcontenttype>")
		}
		if p.rtype {
			m.w.WriteString("<D:resourcetype/>")
		}
		if p.length {
			m.w.WriteString("<D:getcontentlength>" + strconv.Itoa(length) + "</D:getcontentlength>")
		}
		if p.data {
			m.w.WriteString("<C:address-data>")
			if escaped != nil {
				m.w.Write(escaped)
			} else {
				escapeBytesTo(m.w, data)
			}
			m.w.WriteString("</C:address-data>")
		}
		m.w.WriteString("</D:prop><D:status>" + status200 + "</D:status></D:propstat>")
	}
	m.w.WriteString(p.missing)
	m.w.WriteString("</D:response>")
}

func writeHref(w *bufio.Writer, bookHref string, mem member) {
	w.WriteString(bookHref)
	if !mem.plain && needsPathEscape(mem.seg) {
		escapeTo(w, url.PathEscape(mem.seg))
	} else {
		w.WriteString(mem.seg)
	}
	w.WriteString(mem.suffix)
}

// needsPathEscape is a fast check that spares the directory's UUID names
// an allocation per card.
func needsPathEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return true
		}
	}
	return false
}

func (s *Server) report(w http.ResponseWriter, r *http.Request, rt route, v *viewer, info *reqInfo) {
	root, err := parseXML(r.Body)
	if err != nil {
		readBodyError(w, err)
		return
	}
	info.report = "unknown"
	switch {
	case root.is(nsDAV, "sync-collection"):
		info.report = "sync-collection"
	case root.is(nsCard, "addressbook-multiget"):
		info.report = "addressbook-multiget"
	case root.is(nsCard, "addressbook-query"):
		info.report = "addressbook-query"
	}
	if info.report == "unknown" || rt.kind != routeBook {
		xmlError(w, http.StatusForbidden, "<D:supported-report/>")
		return
	}
	b := s.book(v, rt.book)
	switch info.report {
	case "sync-collection":
		s.syncCollection(w, r, v, b, root)
	case "addressbook-multiget":
		mr, err := parseMultiget(root)
		if err != nil {
			readBodyError(w, err)
			return
		}
		s.multiget(w, r, v, b, mr)
	case "addressbook-query":
		qr, err := parseQuery(root)
		if err != nil {
			readBodyError(w, err)
			return
		}
		s.query(w, r, v, b, qr)
	}
}

// syncCollection answers RFC 6578 sync-collection. The Depth header is
// ignored: Thunderbird sends 1, others 0 or nothing.
func (s *Server) syncCollection(w http.ResponseWriter, r *http.Request, v *viewer, b book, root *node) {
	sr, err := parseSync(root)
	if err != nil {
		readBodyError(w, err)
		return
	}
	href := bookPath(v.user, b.id())
	plan := newCardPlan(sr.prop)
	defer plan.release()
	var m ms
	var finish func() error
	n := 0
	open := func() {
		if m.w == nil {
			bw, f := body(w, r, "application/xml; charset=utf-8", http.StatusMultiStatus)
			m, finish = ms{bw}, f
			m.open()
		}
	}
	next, truncated, err := b.delta(sr.token, sr.limit, func(mem member) {
		open()
		n++
		if mem.deleted {
			m.w.WriteString("<D:response><D:href>")
			writeHref(m.w, href, mem)
			m.w.WriteString("</D:href><D:status>" + status404 + "</D:status></D:response>")
			return
		}
		s.writeMember(m, b, href, mem, &plan, nil)
	})
	if errors.Is(err, errInvalidToken) && m.w == nil {
		s.metrics.syncs.WithLabelValues("invalid_token").Inc()
		// RFC 6578 says 403; Thunderbird recovers (full re-fetch) only from
		// 400 and keeps failing on 403, so it gets 400 with the same body.
		status := http.StatusForbidden
		if strings.Contains(r.UserAgent(), "Thunderbird") {
			status = http.StatusBadRequest
		}
		xmlError(w, status, "<D:valid-sync-token/>")
		return
	}
	if err != nil && m.w == nil {
		s.log.Error("sync-collection failed", "user", v.user, "book", b.id(), "err", err)
		http.Error(w, "Internal error while reading changes; try again.", http.StatusInternalServerError)
		return
	}
	if err != nil {
		s.log.Error("sync-collection failed mid-response", "user", v.user, "book", b.id(), "err", err)
	}
	open()
	if truncated {
		m.w.WriteString("<D:response><D:href>")
		escapeTo(m.w, href)
		m.w.WriteString("</D:href><D:status>" + status507 + "</D:status><D:error><D:number-of-matches-within-limits/></D:error></D:response>")
	}
	m.w.WriteString("<D:sync-token>")
	escapeTo(m.w, next)
	m.w.WriteString("</D:sync-token>")
	m.close()
	switch {
	case truncated:
		s.metrics.syncs.WithLabelValues("truncated").Inc()
	case sr.token == "":
		s.metrics.syncs.WithLabelValues("initial").Inc()
	case n == 0:
		s.metrics.syncs.WithLabelValues("unchanged").Inc()
	default:
		s.metrics.syncs.WithLabelValues("delta").Inc()
	}
	if sr.token != "" {
		s.metrics.syncChanges.Add(float64(n))
	}
	if err := finish(); err != nil {
		s.log.Debug("writing sync-collection response failed", "err", err)
	}
}

// memberSeg returns the card segment an href names when the card is a
// direct child of the book; clients send absolute paths or full URLs.
func memberSeg(href, bookHref string) (string, bool) {
	// The usual href is the book's path and a plain name: no parsing.
	if !strings.ContainsAny(href, "%?#") {
		if seg, ok := strings.CutPrefix(href, bookHref); ok && seg != "" && !strings.Contains(seg, "/") {
			return seg, true
		}
	}
	u, err := url.Parse(href)
	if err != nil {
		return "", false
	}
	bookPathDecoded, _ := url.PathUnescape(bookHref)
	seg, ok := strings.CutPrefix(u.Path, bookPathDecoded)
	if !ok || seg == "" || strings.Contains(seg, "/") {
		return "", false
	}
	return seg, true
}

func (s *Server) multiget(w http.ResponseWriter, r *http.Request, v *viewer, b book, mr multigetRequest) {
	href := bookPath(v.user, b.id())
	plan := newCardPlan(mr.prop)
	defer plan.release()
	bw, finish := body(w, r, "application/xml; charset=utf-8", http.StatusMultiStatus)
	m := ms{bw}
	m.open()
	ctx := r.Context()
	ef, _ := b.(etagFinder)
	var etag []byte
	for _, h := range mr.hrefs {
		if ctx.Err() != nil {
			break // the client has gone
		}
		seg, ok := memberSeg(h, href)
		if ok && ef != nil {
			etag, ok = ef.findETag(seg, etag[:0])
		} else if ok {
			var tag string
			tag, ok = b.find(seg)
			etag = []byte(tag)
		}
		if !ok {
			m.statusOnly(h, status404)
			continue
		}
		s.writeMember(m, b, href, member{seg: seg, etag: etag}, &plan, nil)
	}
	m.close()
	if err := finish(); err != nil {
		s.log.Debug("writing multiget response failed", "err", err)
	}
}
