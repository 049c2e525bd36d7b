package carddav

import (
	"net/http"

	"github.com/orgdav/orgdav/directory"
	"github.com/orgdav/orgdav/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// renderVersion changes whenever rendering changes the bytes of a card;
// the store then gives every card a new revision so clients re-fetch once.
const renderVersion = "r1"

// RenderFingerprint identifies everything besides the data that decides
// the served bytes.
func RenderFingerprint(rules *directory.Rules) string {
	return renderVersion + ":" + rules.Fingerprint()
}

// Routes mounts the DAV server with /metrics and /healthz.
func Routes(s *Server, st *store.Store, reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := st.Ping(); err != nil {
			http.Error(w, "store: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.Handle("/", s)
	return mux
}
