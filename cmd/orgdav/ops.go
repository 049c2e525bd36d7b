package main

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/orgdav/orgdav/api"
	"github.com/orgdav/orgdav/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The metrics tell the company's head count, failed logins and sync times:
// not for everyone who can reach the phones' URL. They are served on a
// listener of their own (metrics.listen, loopback by default), and on the
// phones' listener only to requests with the bearer token of
// metrics.token_file. Whether a request comes from this machine is no
// test: through a local reverse proxy every request does.

// routes is the main listener's handler: DAV, /healthz and /metrics.
func routes(dav, admin http.Handler, st *store.Store, reg *prometheus.Registry, token string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(api.Prefix, admin)
	mux.Handle("/healthz", health(st))
	mux.Handle("/metrics", metricsAccess(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}), token))
	mux.Handle("/", dav)
	return mux
}

// opsRoutes is the metrics listener's handler: whoever reaches it may read.
func opsRoutes(st *store.Store, reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/healthz", health(st))
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return mux
}

// health answers 200 while the store answers.
func health(st *store.Store) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := st.Ping(); err != nil {
			http.Error(w, "store: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	}
}

// metricsAccess lets a request through with the bearer token; without a
// token configured, nobody.
func metricsAccess(next http.Handler, token string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token == "" {
			http.Error(w, "Metrics are served on metrics.listen, or here with the token of metrics.token_file (see README).", http.StatusForbidden)
			return
		}
		got, ok := bearer(r)
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="orgdav metrics"`)
			http.Error(w, "Metrics need the bearer token of metrics.token_file.", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func bearer(r *http.Request) (string, bool) {
	const prefix = "Bearer "
	h := r.Header.Get("Authorization")
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	return h[len(prefix):], true
}
