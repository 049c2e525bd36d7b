package integration

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/orgdav/orgdav/directory"
	"github.com/orgdav/orgdav/store"
)

// ldapBenchPeople sizes the LDAP benchmarks (ORGDAV_LDAP_BENCH_PEOPLE;
// the performance targets are for 100,000).
func ldapBenchPeople() int {
	if n, err := strconv.Atoi(os.Getenv("ORGDAV_LDAP_BENCH_PEOPLE")); err == nil && n > 0 {
		return n
	}
	return 100000
}

// BenchmarkLDAPImportAndIncremental measures, against a real slapd: the
// full import (read, normalise, apply to the store) and an incremental
// run that finds one change, end to end, with peak heap reported.
func BenchmarkLDAPImportAndIncremental(b *testing.B) {
	n := ldapBenchPeople()
	ldif, people := generateOrg(n)
	srv := startSlapdB(b, ldif)
	cfg := ldapSourceConfig(srv)
	cfg.PageSize = 500
	for b.Loop() {
		st, err := store.Open(filepath.Join(b.TempDir(), "db"), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		src := directory.NewLDAPSource(cfg, nil)
		var peak uint64
		stopPeak := samplePeak(&peak)
		start := time.Now()
		snap, err := src.Snapshot(withTimeoutB(b))
		if err != nil {
			b.Fatal(err)
		}
		pub, err := directory.Normalize(snap)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := st.Apply(pub); err != nil {
			b.Fatal(err)
		}
		full := time.Since(start)
		stopPeak()
		time.Sleep(1100 * time.Millisecond) // modifyTimestamp resolution
		c, _ := ldap.DialURL(srv.url)
		c.Bind(adminDN, adminPass)
		mod := ldap.NewModifyRequest(dnOf(people[n/2]), nil)
		mod.Replace("title", []string{"Changed " + time.Now().String()})
		if err := c.Modify(mod); err != nil {
			b.Fatal(err)
		}
		c.Close()
		start = time.Now()
		snap, changed, err := src.Changes(withTimeoutB(b))
		if err != nil || !changed {
			b.Fatalf("incremental: %v %v", changed, err)
		}
		pub, _ = directory.Normalize(snap)
		res, err := st.Apply(pub)
		if err != nil || res.Updated != 1 {
			b.Fatalf("incremental apply: %+v %v", res, err)
		}
		inc := time.Since(start)
		b.ReportMetric(full.Seconds(), "full-import-s")
		b.ReportMetric(inc.Seconds(), "incremental-s")
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(len(pub.People)), "people")
		src.Close()
		st.Close()
	}
}

// samplePeak records the peak Go heap (in use plus not yet returned) until stopped.
func samplePeak(peak *uint64) func() {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var m runtime.MemStats
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		for {
			runtime.ReadMemStats(&m)
			if v := m.HeapInuse + m.StackInuse; v > *peak {
				*peak = v
			}
			select {
			case <-done:
				return
			case <-tk.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}
