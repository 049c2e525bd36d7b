package integration

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/orgdav/orgdav/directory"
	"github.com/orgdav/orgdav/runner"
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
// full import (read, normalise, apply to the store) with its peak heap;
// incremental runs that find one edit, polled and pushed; a sweep that
// finds one deletion; a scheduled full run with its peak heap; and the
// heap kept between runs.
func BenchmarkLDAPImportAndIncremental(b *testing.B) {
	n := ldapBenchPeople()
	srv, polled, pushed, deleted := benchSlapd(b, n)
	cfg := ldapSourceConfig(srv)
	cfg.PageSize = 500
	for b.Loop() {
		st, err := store.Open(filepath.Join(b.TempDir(), "db"), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		src := directory.NewLDAPSource(cfg, nil)
		r := runner.New(st, []runner.Spec{{Source: src, MaxRemovalShare: 0.1}}, slog.New(slog.DiscardHandler), nil)
		// As serve does after each full run of an incremental source
		// (which keeps its publication, so the index is not packed).
		r.After = func(bool) {
			runtime.GC()
			debug.FreeOSMemory()
		}
		// The peak is orgdav's: the generated directory is gone by now.
		runtime.GC()
		var peak uint64
		stopPeak := samplePeak(&peak)
		start := time.Now()
		run, err := r.Run(withTimeoutB(b), "corp", runner.TriggerStartup, false)
		if err != nil || run.Result != store.RunApplied {
			b.Fatalf("full run: %+v %v", run, err)
		}
		full := time.Since(start)
		stopPeak()
		importPeak := peak
		c, _ := ldap.DialURL(srv.url)
		c.Bind(adminDN, adminPass)
		mod := ldap.NewModifyRequest(polled, nil)
		mod.Replace("title", []string{"Changed " + time.Now().String()})
		if err := c.Modify(mod); err != nil {
			b.Fatal(err)
		}
		c.Close()
		start = time.Now()
		run, ran, err := r.RunChanges(withTimeoutB(b), "corp", false)
		if err != nil || !ran || run.Updated != 1 {
			b.Fatalf("incremental run: %+v %v %v", run, ran, err)
		}
		inc := time.Since(start)

		// A deletion, found by the sweep that lists everyone in scope.
		c, _ = ldap.DialURL(srv.url)
		c.Bind(adminDN, adminPass)
		if err := c.Del(ldap.NewDelRequest(deleted, nil)); err != nil {
			b.Fatal(err)
		}
		c.Close()
		start = time.Now()
		run, ran, err = r.RunChanges(withTimeoutB(b), "corp", true)
		if err != nil || !ran || run.Removed != 1 {
			b.Fatalf("sweep: %+v %v %v", run, ran, err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "sweep-deletion-s")

		// The same with the server pushing changes: no listing needed.
		wctx, stopWatch := context.WithCancel(withTimeoutB(b))
		notified := make(chan struct{}, 16)
		go src.Watch(wctx, func() {}, func() {
			select {
			case notified <- struct{}{}:
			default:
			}
		})
		for i := 0; i < 100 && !src.Pushing(); i++ {
			time.Sleep(50 * time.Millisecond)
		}
		c, _ = ldap.DialURL(srv.url)
		c.Bind(adminDN, adminPass)
		mod = ldap.NewModifyRequest(pushed, nil)
		mod.Replace("title", []string{"Pushed " + time.Now().String()})
		changedAt := time.Now()
		if err := c.Modify(mod); err != nil {
			b.Fatal(err)
		}
		c.Close()
		select {
		case <-notified:
		case <-time.After(30 * time.Second):
			b.Fatal("no pushed change")
		}
		start = time.Now()
		run, ran, err = r.RunChanges(withTimeoutB(b), "corp", false)
		if err != nil || !ran || run.Updated != 1 {
			b.Fatalf("pushed incremental run: %+v %v %v", run, ran, err)
		}
		pushedRun, latency := time.Since(start), time.Since(changedAt)
		stopWatch()
		// What a server keeps between runs: the source's state for
		// incremental reads, the runner's last publication, the index.
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "steady-heap-MiB")

		// A scheduled full run: the previous read's state is still there.
		peak = 0
		stopPeak = samplePeak(&peak)
		start = time.Now()
		run, err = r.Run(withTimeoutB(b), "corp", runner.TriggerSchedule, false)
		if err != nil || run.Result != store.RunUnchanged {
			b.Fatalf("scheduled full run: %+v %v", run, err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "full-rerun-s")
		stopPeak()
		b.ReportMetric(float64(peak)/(1<<20), "rerun-peak-heap-MiB")
		b.ReportMetric(full.Seconds(), "full-import-s")
		b.ReportMetric(inc.Seconds(), "incremental-poll-s")
		b.ReportMetric(pushedRun.Seconds(), "incremental-push-s")
		b.ReportMetric(latency.Seconds(), "change-to-store-s")
		b.ReportMetric(float64(importPeak)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(run.Published), "people")
		src.Close()
		st.Close()
	}
}

// benchSlapd starts slapd with a generated organisation of n people and
// returns the DNs of two people the benchmark edits; the generated data is
// left to the garbage collector, so it does not count in the peak heap.
func benchSlapd(b *testing.B, n int) (srv *slapd, polled, pushed, deleted string) {
	ldif, people := generateOrg(n)
	return startSlapdB(b, ldif), dnOf(people[n/2]), dnOf(people[n/3]), dnOf(people[n/4])
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
