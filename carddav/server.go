// Package carddav serves the store's books over CardDAV (RFC 6352) with
// WebDAV sync (RFC 6578): discovery, per-viewer books, vCard 3.0/4.0
// rendering, streaming multistatus responses.
//
// It owns every DAV response instead of delegating to go-webdav's
// carddav.Handler: the handler lacks sync-collection, getctag, sync-token,
// correct privileges, conditional requests and streaming (see
// shared/GO-WEBDAV.md); go-webdav's client drives the protocol tests.
package carddav

import (
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/orgdav/orgdav/auth"
	"github.com/orgdav/orgdav/directory"
	"github.com/orgdav/orgdav/store"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configure the server.
type Options struct {
	CompanyBookName  string // display name of the directory book
	PersonalBookName string
	MaxRequestBytes  int64 // REPORT/PROPFIND/PROPPATCH bodies
	MaxCardBytes     int64 // one uploaded vCard
	RenderCacheBytes int64
	// TrustedProxies may name the client in X-Forwarded-For or Forwarded;
	// everyone else's client address is the connection's.
	TrustedProxies []netip.Prefix
	// Throttle counts failed logins; the admin API shares it, so guesses
	// cost the same wherever they are sent. Nil: one of the server's own.
	Throttle *auth.Throttle
	Logger   *slog.Logger
	Registry prometheus.Registerer
}

// Server is the CardDAV http.Handler.
type Server struct {
	store    *store.Store
	rules    *directory.Rules
	gate     *auth.Gate
	opt      Options
	log      *slog.Logger
	cache    *renderCache
	metrics  *metrics
	views    sync.Map // view fingerprints already saved in the store
	repaired sync.Map // ETags of stored personal cards served repaired, logged once
}

// New builds a server over a store.
func New(st *store.Store, rules *directory.Rules, authn auth.Authenticator, opt Options) *Server {
	if opt.CompanyBookName == "" {
		opt.CompanyBookName = "Company"
	}
	if opt.PersonalBookName == "" {
		opt.PersonalBookName = "Personal"
	}
	if opt.MaxRequestBytes <= 0 {
		opt.MaxRequestBytes = 8 << 20
	}
	if opt.MaxCardBytes <= 0 {
		opt.MaxCardBytes = 1 << 20
	}
	if opt.RenderCacheBytes <= 0 {
		opt.RenderCacheBytes = 4 << 20
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opt.Throttle == nil {
		opt.Throttle = auth.NewThrottle()
	}
	return &Server{
		store: st, rules: rules, opt: opt, log: opt.Logger,
		gate:    &auth.Gate{Auth: authn, Throttle: opt.Throttle, TrustedProxies: opt.TrustedProxies, Log: opt.Logger},
		cache:   newRenderCache(opt.RenderCacheBytes),
		metrics: newMetrics(opt.Registry, st),
	}
}

type routeKind int

const (
	routeRoot routeKind = iota
	routeWellKnown
	routePrincipals
	routePrincipal
	routeHome
	routeBook
	routeCard
)

type route struct {
	kind             routeKind
	user, book, card string
}

// parsePath classifies a decoded URL path. Collections work with and
// without their trailing slash.
func parsePath(p string) (route, bool) {
	switch p {
	case "/", "":
		return route{kind: routeRoot}, true
	case "/.well-known/carddav", "/.well-known/carddav/":
		return route{kind: routeWellKnown}, true
	case "/dav/principals", "/dav/principals/":
		return route{kind: routePrincipals}, true
	}
	trimmed := strings.TrimSuffix(p, "/")
	if rest, ok := strings.CutPrefix(trimmed, "/dav/principals/"); ok && rest != "" && !strings.Contains(rest, "/") {
		return route{kind: routePrincipal, user: rest}, true
	}
	rest, ok := strings.CutPrefix(trimmed, "/dav/books/")
	if !ok || rest == "" {
		return route{}, false
	}
	parts := strings.Split(rest, "/")
	for _, s := range parts {
		if s == "" || s == "." || s == ".." {
			return route{}, false
		}
	}
	switch {
	case len(parts) == 1:
		return route{kind: routeHome, user: parts[0]}, true
	case len(parts) == 2 && validBook(parts[1]):
		return route{kind: routeBook, user: parts[0], book: parts[1]}, true
	case len(parts) == 3 && validBook(parts[1]) && !strings.HasSuffix(p, "/"):
		return route{kind: routeCard, user: parts[0], book: parts[1], card: parts[2]}, true
	}
	return route{}, false
}

func principalPath(user string) string { return "/dav/principals/" + url.PathEscape(user) + "/" }
func homePath(user string) string      { return "/dav/books/" + url.PathEscape(user) + "/" }
func bookPath(user, b string) string   { return homePath(user) + b + "/" }

var knownMethods = map[string]bool{
	"OPTIONS": true, "GET": true, "HEAD": true, "PUT": true, "DELETE": true, "POST": true,
	"PROPFIND": true, "PROPPATCH": true, "REPORT": true, "MKCOL": true, "MOVE": true, "COPY": true,
	"LOCK": true, "UNLOCK": true, "ACL": true,
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	info := &reqInfo{}
	method := r.Method
	if !knownMethods[method] {
		method = "OTHER"
	}
	defer func() { s.metrics.observe(method, info, rec.code, start) }()
	s.serve(rec, r, info)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, info *reqInfo) {
	rt, ok := parsePath(r.URL.Path)
	if !ok {
		http.Error(w, "Not found: CardDAV lives under /dav/; add the account with the server's base URL.", http.StatusNotFound)
		return
	}
	if r.Method == http.MethodOptions {
		s.options(w, rt)
		return
	}
	if rt.kind == routeRoot && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		s.welcome(w, r)
		return
	}
	user := s.authenticate(w, r)
	if user == "" {
		return
	}
	v := s.viewerFor(user)
	if v == nil {
		http.Error(w, "Your account is not in the published directory.", http.StatusForbidden)
		return
	}
	defer v.rd.Close()
	w = &releasingWriter{ResponseWriter: w, rd: v.rd}
	if rt.user != "" && !strings.EqualFold(rt.user, v.user) {
		http.Error(w, "Not found.", http.StatusNotFound)
		return
	}
	if rt.book != "" && s.book(v, rt.book) == nil {
		// A shared list's book exists only for its editors.
		http.Error(w, "Not found.", http.StatusNotFound)
		return
	}
	if rt.kind == routeWellKnown && r.Method != "PROPFIND" {
		http.Redirect(w, r, principalPath(v.user), http.StatusMovedPermanently)
		return
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, s.opt.MaxRequestBytes)
	}
	switch r.Method {
	case "PROPFIND":
		s.propfind(w, r, rt, v)
	case "REPORT":
		s.report(w, r, rt, v, info)
	case http.MethodGet, http.MethodHead:
		if rt.kind == routeBook && wantsExport(r) {
			s.exportBook(w, r, s.book(v, rt.book))
			return
		}
		if rt.kind != routeCard {
			http.Error(w, "GET is for cards, and for a whole book as one vCard file with ?export or Accept: text/vcard; use a CardDAV client.", http.StatusMethodNotAllowed)
			return
		}
		s.getCard(w, r, s.book(v, rt.book), rt.card)
	case http.MethodPut:
		s.putCard(w, r, rt, v)
	case http.MethodDelete:
		s.deleteCard(w, r, rt, v)
	case "PROPPATCH":
		s.proppatch(w, r, rt, v)
	case "MKCOL", "MOVE", "COPY", "ACL":
		needPrivileges(w, rt.parent(), "bind")
	default:
		w.Header().Set("Allow", allow(rt))
		http.Error(w, "Method not allowed.", http.StatusMethodNotAllowed)
	}
}

func (s *Server) viewerFor(user string) *viewer {
	ix := s.store.Index()
	it, ok := ix.User(user)
	if !ok {
		return nil
	}
	lists, edits := ix.ListsFor(it)
	v := &viewer{user: it.Username, item: it, ix: ix, rd: s.store.NewReader(),
		view: directory.View{Department: it.Dept, Groups: it.Groups, IsManager: it.Manager, Lists: lists, Edits: edits}}
	v.fp = v.view.Fingerprint()
	if _, known := s.views.Load(v.fp); !known {
		if err := s.store.SaveView(v.fp, v.view); err != nil {
			s.log.Error("saving a viewer's view failed; their next view change forces a full resync", "err", err)
		} else {
			s.views.Store(v.fp, true)
		}
	}
	return v
}

func allow(rt route) string {
	switch {
	case (rt.kind == routeCard || rt.kind == routeBook) && rt.book != bookCompany:
		return "OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, PROPPATCH, REPORT"
	case rt.kind == routeCard, rt.kind == routeBook:
		return "OPTIONS, GET, HEAD, PROPFIND, PROPPATCH, REPORT"
	}
	return "OPTIONS, GET, HEAD, PROPFIND, PROPPATCH, REPORT"
}

func (s *Server) options(w http.ResponseWriter, rt route) {
	h := w.Header()
	h.Set("DAV", "1, 3, access-control, addressbook")
	h.Set("Allow", allow(rt))
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

func (s *Server) welcome(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if r.Method == http.MethodHead {
		return
	}
	io.WriteString(w, "orgdav: the organisation directory as a CardDAV address book.\n\n"+
		"Add a CardDAV account in your contacts app with this server's address,\n"+
		"your directory user name and your password.\n")
}

// needPrivileges refuses a write with the body that tells clients the
// book is read-only (never 401, which Apple treats as a broken account),
// naming the resource that lacks the privilege (RFC 3744 7.1.1): the card
// for write-content, the collection holding it for bind and unbind.
func needPrivileges(w http.ResponseWriter, href, privilege string) {
	var esc strings.Builder
	xml.EscapeText(&esc, []byte(href))
	xmlError(w, http.StatusForbidden, `<D:need-privileges><D:resource><D:href>`+esc.String()+`</D:href><D:privilege><D:`+privilege+`/></D:privilege></D:resource></D:need-privileges>`)
}

// href is the route's canonical URL path.
func (rt route) href() string {
	switch rt.kind {
	case routeCard:
		return bookPath(rt.user, rt.book) + url.PathEscape(rt.card)
	case routeBook:
		return bookPath(rt.user, rt.book)
	case routeHome:
		return homePath(rt.user)
	case routePrincipal:
		return principalPath(rt.user)
	case routePrincipals:
		return "/dav/principals/"
	case routeWellKnown:
		return "/.well-known/carddav"
	}
	return "/"
}

// parent is the collection holding the route's resource, where bind and
// unbind apply.
func (rt route) parent() string {
	switch rt.kind {
	case routeCard:
		return bookPath(rt.user, rt.book)
	case routeBook:
		return homePath(rt.user)
	case routeHome:
		return "/dav/books/"
	case routePrincipal:
		return "/dav/principals/"
	}
	return "/"
}

// readBodyError answers a body that could not be read or parsed,
// and what a request asks that the server does not do: each precondition
// RFC 6352 names gets its element.
func readBodyError(w http.ResponseWriter, err error) {
	var (
		tooBig    *http.MaxBytesError
		dataType  *errAddressDataType
		filter    *errUnsupportedFilter
		collation *unsupportedCollation
	)
	switch {
	case errors.As(err, &tooBig) || errors.Is(err, errXMLTooLarge):
		http.Error(w, "Request body too large.", http.StatusRequestEntityTooLarge)
	case errors.As(err, &dataType):
		xmlError(w, http.StatusForbidden, "<C:supported-address-data/><D:responsedescription>"+textXML(err.Error())+"</D:responsedescription>")
	case errors.As(err, &filter):
		xmlError(w, http.StatusForbidden, "<C:supported-filter/><D:responsedescription>"+textXML(err.Error())+"</D:responsedescription>")
	case errors.As(err, &collation):
		xmlError(w, http.StatusForbidden, "<C:supported-collation/>")
	default:
		http.Error(w, "Bad request: "+err.Error(), http.StatusBadRequest)
	}
}

// releasingWriter ends the request's read transaction before each write
// to the client: a slow client never holds one open (which would keep a
// growing database from being remapped) while its answer waits.
type releasingWriter struct {
	http.ResponseWriter
	rd *store.Reader
}

func (w *releasingWriter) Write(b []byte) (int, error) {
	w.rd.Close()
	return w.ResponseWriter.Write(b)
}

func (w *releasingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
