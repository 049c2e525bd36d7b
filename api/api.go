// Package api is orgdav's JSON admin API, one file per resource, shared by
// the CLI (over the data directory's Unix socket), remote admins (on the
// server's own listener, with their directory login and the admin role)
// and, as it comes, the web console. Handlers return errors; one function
// maps them to a status and a JSON body naming the field at fault.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/orgdav/orgdav/auth"
	"github.com/orgdav/orgdav/store"
	"github.com/prometheus/client_golang/prometheus"
)

// Prefix is where the API lives.
const Prefix = "/api/v1/"

// WhoLocal is the audit log's name for changes made by the CLI, over the
// Unix socket or directly on the data directory: whoever can do either is
// the server's own user on its machine.
const WhoLocal = "local"

// Options are what the API serves over.
type Options struct {
	Runs  Runner
	Store *store.Store
	// Gate checks logins on the HTTP listener; Admins says who of those
	// holds the admin role.
	Gate   *auth.Gate
	Admins *auth.Admins
	// GroupKey finds the group a DN names, for audiences given by DN.
	GroupKey func(dn string) (string, bool)
	Log      *slog.Logger
	Registry prometheus.Registerer
}

// API serves the admin routes.
type API struct {
	opt      Options
	log      *slog.Logger
	mux      *http.ServeMux
	requests *prometheus.CounterVec
	imports  *prometheus.CounterVec
	routes   []string // "METHOD /path" of every route, for the OpenAPI check
	// self are the routes a user may call for themselves without the
	// admin role: their personal book's import and export.
	self map[string]bool
}

// New builds the API.
func New(opt Options) *API {
	a := &API{opt: opt, log: opt.Log, mux: http.NewServeMux()}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "orgdav_api_requests_total",
		Help: "Admin API requests by route and HTTP status.",
	}, []string{"route", "code"})
	a.imports = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "orgdav_imports_total",
		Help: "Contact file imports by result: planned (a dry run), applied, refused (the file is broken), failed.",
	}, []string{"result"})
	if opt.Registry != nil {
		opt.Registry.MustRegister(a.requests, a.imports)
	}
	a.self = map[string]bool{
		"POST " + Prefix + "users/{user}/personal/import": true,
		"GET " + Prefix + "users/{user}/personal/export":  true,
	}
	a.mountRuns()
	a.mountAudit()
	a.mountLists()
	a.mountContacts()
	a.mountImports()
	a.mountDirectory()
	a.mountOpenAPI()
	// Anything else under the prefix is a JSON 404 or 405, not the DAV
	// server's.
	a.mux.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		if allow := a.allowed(r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			a.writeError(w, r, &Error{Status: http.StatusMethodNotAllowed, Message: r.Method + " is not allowed here; use " + strings.Join(allow, " or ")})
			return
		}
		a.writeError(w, r, &Error{Status: http.StatusNotFound, Message: "no such API route; see the README's admin API section"})
	})
	return a
}

// route registers a handler for "METHOD /path".
func (a *API) route(pattern string, h http.HandlerFunc) {
	a.routes = append(a.routes, pattern)
	a.mux.HandleFunc(pattern, h)
}

// allowed lists the methods that a route of r's path has.
func (a *API) allowed(r *http.Request) []string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := a.mux.Handler(probe); pattern != Prefix && pattern != "" {
			out = append(out, m)
		}
	}
	return out
}

// Local serves the Unix socket and the CLI's in-process calls: no login,
// the caller is the server's own user.
func (a *API) Local() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.serve(w, r.WithContext(context.WithValue(r.Context(), whoKey{}, WhoLocal)))
	})
}

// HTTP serves the API on the server's listener: a directory login that
// holds the admin role, or nothing.
func (a *API) HTTP() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, no := a.opt.Gate.Check(r)
		if no != nil {
			no.SetHeaders(w.Header())
			a.count("login", no.Status)
			writeJSON(w, no.Status, &Error{Status: no.Status, Message: no.Message})
			return
		}
		it, ok := a.opt.Store.Index().User(user)
		if !ok || !a.opt.Admins.Is(it) && !a.ownRoute(r, it.Username) {
			a.count("login", http.StatusForbidden)
			writeJSON(w, http.StatusForbidden, &Error{Status: http.StatusForbidden,
				Message: "user " + strconv.Quote(user) + " does not hold the admin role (config: admins)"})
			return
		}
		a.serve(w, r.WithContext(context.WithValue(r.Context(), whoKey{}, user)))
	})
}

// ownRoute reports whether r is a route a user may call for themselves
// and names them.
func (a *API) ownRoute(r *http.Request, username string) bool {
	if _, pattern := a.mux.Handler(r); !a.self[pattern] {
		return false
	}
	named, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, Prefix+"users/"), "/")
	return strings.EqualFold(named, username)
}

func (a *API) serve(w http.ResponseWriter, r *http.Request) {
	rec := &statusWriter{ResponseWriter: w, code: http.StatusOK}
	a.mux.ServeHTTP(rec, r)
	route := r.Pattern
	if route == "" {
		route = "unknown"
	}
	a.count(route, rec.code)
}

func (a *API) count(route string, code int) {
	a.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

type whoKey struct{}

// who is the admin a request is made for, as the audit log names them.
func who(r *http.Request) string {
	s, _ := r.Context().Value(whoKey{}).(string)
	return s
}

// audit records a change; a failure to record is logged, never hidden in
// the change's answer: the change is made.
func (a *API) audit(r *http.Request, e store.AuditEntry) {
	e.Who = who(r)
	if err := a.opt.Store.Audit(&e); err != nil {
		a.log.Error("recording an admin change in the audit log failed", "action", e.Action, "target", e.Target, "err", err)
	}
}

// Error is an API error: the status, what is wrong, and the field (a
// query parameter or a JSON key) at fault, if one is.
type Error struct {
	Status  int    `json:"-"`
	Message string `json:"error"`
	Field   string `json:"field,omitempty"`
	Line    int    `json:"line,omitempty"` // of an uploaded file
}

func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

// handle adapts a handler that returns its result or an error.
func (a *API) handle(fn func(r *http.Request) (any, error)) http.HandlerFunc {
	return a.handleStatus(http.StatusOK, func(_ http.ResponseWriter, r *http.Request) (any, error) { return fn(r) })
}

// handleW is handle for handlers that set headers.
func (a *API) handleW(fn func(w http.ResponseWriter, r *http.Request) (any, error)) http.HandlerFunc {
	return a.handleStatus(http.StatusOK, fn)
}

// handleStatus is handleW answering status on success.
func (a *API) handleStatus(status int, fn func(w http.ResponseWriter, r *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := fn(w, r)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		writeJSON(w, status, v)
	}
}

func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		a.log.Error("admin API request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		e = &Error{Status: http.StatusInternalServerError, Message: "internal error: " + err.Error()}
	}
	writeJSON(w, e.Status, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
