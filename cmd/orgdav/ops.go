package main

import (
	"crypto/subtle"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/orgdav/orgdav/config"
	"github.com/orgdav/orgdav/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The metrics tell the company's head count, failed logins and sync times:
// not for everyone who can reach the phones' URL. On the main listener
// /metrics answers requests with the configured bearer token; without
// one, requests from this machine (a loopback peer, no forwarding header)
// unless a proxy stands in front, where every request looks local; and
// nobody when metrics have a listener of their own.

// routes is the main listener's handler: DAV, /healthz and /metrics.
func routes(dav http.Handler, st *store.Store, reg *prometheus.Registry, cfg *config.Config, token string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/healthz", health(st))
	mux.Handle("/metrics", metricsAccess(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}), token,
		cfg.Metrics.Listen == "" && !cfg.BehindProxy))
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

// metricsAccess lets a request through with the bearer token, or, with no
// token configured and local allowed, from a loopback peer that forwards
// for nobody.
func metricsAccess(next http.Handler, token string, local bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token != "" {
			got, ok := bearer(r)
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="orgdav metrics"`)
				http.Error(w, "Metrics need the bearer token of metrics.token_file.", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if !local || !loopbackPeer(r) {
			http.Error(w, "Metrics are not served to this address: use metrics.listen or metrics.token_file (see README).", http.StatusForbidden)
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

func loopbackPeer(r *http.Request) bool {
	if r.Header.Get("X-Forwarded-For") != "" || r.Header.Get("Forwarded") != "" {
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}
