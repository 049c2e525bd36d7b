package runner

import (
	"github.com/orgdav/orgdav/store"
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	runs         *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	people       *prometheus.GaugeVec
	lastSuccess  *prometheus.GaugeVec
	heldRemovals *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orgdav_directory_runs_total", Help: "Directory source runs by source and result (applied, unchanged, held, failed, draft).",
		}, []string{"source", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "orgdav_directory_run_duration_seconds", Help: "Time to read and apply a directory source.",
			Buckets: []float64{.1, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"source"}),
		people: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "orgdav_directory_people", Help: "People a source publishes, after its last applied run.",
		}, []string{"source"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "orgdav_directory_last_success_timestamp_seconds", Help: "When a source last answered a run: applied, unchanged, or an incremental run that found nothing new.",
		}, []string{"source"}),
		heldRemovals: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "orgdav_directory_held_removals", Help: "People a held run of the source would remove; 0 when no run waits for orgdav sync --confirm.",
		}, []string{"source"}),
	}
	if reg != nil {
		reg.MustRegister(m.runs, m.duration, m.people, m.lastSuccess, m.heldRemovals)
	}
	return m
}

func (m *metrics) observe(r *store.Run) {
	m.runs.WithLabelValues(r.Source, r.Result).Inc()
	m.duration.WithLabelValues(r.Source).Observe(r.End.Sub(r.Start).Seconds())
	if r.Result == store.RunApplied || r.Result == store.RunUnchanged {
		m.people.WithLabelValues(r.Source).Set(float64(r.Published))
		m.lastSuccess.WithLabelValues(r.Source).Set(float64(r.End.Unix()))
	}
}
