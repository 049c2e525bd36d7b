package carddav

import (
	"net/http"
	"strconv"
	"time"

	"github.com/orgdav/orgdav/store"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	syncs        *prometheus.CounterVec
	syncChanges  prometheus.Counter
	authFailures *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, st *store.Store) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orgdav_http_requests_total",
			Help: "HTTP requests by method, REPORT type and status code.",
		}, []string{"method", "report", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "orgdav_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by method and REPORT type.",
			Buckets: []float64{.0005, .001, .005, .01, .05, .1, .25, .5, 1, 2.5, 10},
		}, []string{"method", "report"}),
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orgdav_sync_collection_total",
			Help: "sync-collection REPORTs by result: initial, delta, unchanged, truncated, invalid_token.",
		}, []string{"result"}),
		syncChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "orgdav_sync_changes_served_total",
			Help: "Changed or deleted cards reported by incremental sync-collection REPORTs.",
		}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orgdav_auth_failures_total",
			Help: "Refused logins by reason: missing, bad-credentials, throttled, directory-unavailable (503), not-ready (503 while the first import runs), error.",
		}, []string{"reason"}),
	}
	book := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "orgdav_company_book_people", Help: "People in the company book.",
	}, func() float64 { return float64(st.Stats().People) })
	groups := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "orgdav_company_book_groups", Help: "Contact groups in the company book.",
	}, func() float64 { return float64(st.Stats().Groups) })
	rev := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "orgdav_directory_revision", Help: "Current revision of the directory cards.",
	}, func() float64 { return float64(st.Stats().Rev) })
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.syncs, m.syncChanges, m.authFailures, book, groups, rev, listsCollector{st})
	}
	return m
}

// statusRecorder remembers the status code for the request metrics.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// reqInfo carries what the handler learned (the REPORT type) back to the
// metrics middleware.
type reqInfo struct{ report string }

func (m *metrics) observe(method string, info *reqInfo, code int, start time.Time) {
	if code == 0 {
		code = http.StatusOK
	}
	m.requests.WithLabelValues(method, info.report, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(method, info.report).Observe(time.Since(start).Seconds())
}

var (
	listsDesc = prometheus.NewDesc("orgdav_shared_lists", "Shared contact lists by state.", []string{"state"}, nil)
	listDesc  = prometheus.NewDesc("orgdav_shared_list_contacts", "Contacts of each shared list, by list id.", []string{"list"}, nil)
)

// listsCollector reports the shared lists as the store holds them when
// scraped.
type listsCollector struct{ st *store.Store }

func (c listsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- listsDesc
	ch <- listDesc
}

func (c listsCollector) Collect(ch chan<- prometheus.Metric) {
	ix := c.st.Index()
	states := map[store.ListState]int{store.ListEnabled: 0, store.ListDraft: 0, store.ListDisabled: 0}
	for id, l := range ix.Lists {
		states[l.State]++
		ch <- prometheus.MustNewConstMetric(listDesc, prometheus.GaugeValue, float64(len(ix.ListCards(id))), id)
	}
	for state, n := range states {
		ch <- prometheus.MustNewConstMetric(listsDesc, prometheus.GaugeValue, float64(n), string(state))
	}
}
