package carddav

import (
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/orgdav/orgdav/auth"
	"github.com/orgdav/orgdav/directory"
	"github.com/orgdav/orgdav/store"
)

// benchPeople sizes the benchmark directory (ORGDAV_BENCH_PEOPLE, default
// 50,000 as in the performance targets).
func benchPeople() int {
	if n, err := strconv.Atoi(os.Getenv("ORGDAV_BENCH_PEOPLE")); err == nil && n > 0 {
		return n
	}
	return 50000
}

type benchEnv struct {
	s     *Server
	st    *store.Store
	dir   string
	hrefs []string
	token string
	snap  directory.Snapshot
}

var (
	benchOnce sync.Once
	benchE    *benchEnv
)

// sharedBenchEnv builds the large store once for all benchmarks.
func sharedBenchEnv(b *testing.B) *benchEnv {
	benchOnce.Do(func() {
		e := newBenchEnv(b, "orgdav-bench")
		ix := e.st.Index()
		for i := range ix.Items {
			e.hrefs = append(e.hrefs, bookPath("alice", bookCompany)+ix.Items[i].Name+".vcf")
		}
		benchE = e
	})
	return benchE
}

// newBenchEnv serves a store of benchPeople() demo people in a new
// directory, with alice's current token.
func newBenchEnv(b *testing.B, prefix string) *benchEnv {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		b.Fatal(err)
	}
	rules, _ := directory.NewRules(nil)
	st, err := store.Open(filepath.Join(dir, "orgdav.db"), store.Options{Fingerprint: RenderFingerprint(rules)})
	if err != nil {
		b.Fatal(err)
	}
	snap := directory.Demo(benchPeople())
	pub, err := directory.Normalize(snap)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.Apply(pub); err != nil {
		b.Fatal(err)
	}
	e := &benchEnv{s: New(st, rules, auth.DemoAuth{Store: st, Password: directory.DemoPassword}, Options{}), st: st, dir: dir, snap: snap}
	e.token = (&companyBook{s: e.s, v: e.s.viewerFor("alice")}).token()
	return e
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, e := range []*benchEnv{benchE, listsBenchEnvOrNil()} {
		if e != nil {
			e.st.Close()
			os.RemoveAll(e.dir)
		}
	}
	os.Exit(code)
}

// discard is a ResponseWriter that counts bytes and keeps none, so the
// benchmarks measure the server, not a buffer.
type discard struct {
	h    http.Header
	n    int
	code int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }
func (d *discard) WriteHeader(code int)        { d.code = code }

func (e *benchEnv) serve(b *testing.B, method, path, body string, headers ...string) *discard {
	req, _ := http.NewRequest(method, path, strings.NewReader(body))
	req.SetBasicAuth("alice", directory.DemoPassword)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	w := &discard{h: http.Header{}}
	e.s.ServeHTTP(w, req)
	if w.code != http.StatusMultiStatus {
		b.Fatalf("%s %s: status %d", method, path, w.code)
	}
	return w
}

func BenchmarkPropfindDepth1CompanyBook(b *testing.B) {
	e := sharedBenchEnv(b)
	body := `<propfind xmlns="DAV:"><prop><resourcetype/><getcontenttype/><getetag/></prop></propfind>`
	b.ReportAllocs()
	var n int
	for b.Loop() {
		n = e.serve(b, "PROPFIND", bookPath("alice", bookCompany), body, "Depth", "1").n
	}
	b.ReportMetric(float64(n), "body-bytes")
}

func BenchmarkSyncCollectionInitial(b *testing.B) {
	e := sharedBenchEnv(b)
	b.ReportAllocs()
	for b.Loop() {
		e.serve(b, "REPORT", bookPath("alice", bookCompany), syncBody("", false))
	}
}

func BenchmarkSyncCollectionNoChange(b *testing.B) {
	e := sharedBenchEnv(b)
	body := syncBody(e.token, false)
	b.ReportAllocs()
	for b.Loop() {
		if w := e.serve(b, "REPORT", bookPath("alice", bookCompany), body); w.n > 600 {
			b.Fatalf("no-change sync answered %d bytes", w.n)
		}
	}
}

func BenchmarkMultiget100(b *testing.B) {
	e := sharedBenchEnv(b)
	var sb strings.Builder
	sb.WriteString(`<C:addressbook-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/><C:address-data/></D:prop>`)
	for i := 0; i < 100; i++ {
		sb.WriteString("<D:href>" + e.hrefs[i*len(e.hrefs)/100] + "</D:href>")
	}
	sb.WriteString("</C:addressbook-multiget>")
	body := sb.String()
	e.serve(b, "REPORT", bookPath("alice", bookCompany), body) // warm the render cache, as steady state is
	b.ReportAllocs()
	for b.Loop() {
		e.serve(b, "REPORT", bookPath("alice", bookCompany), body)
	}
}

func BenchmarkApplySnapshotOnePersonChanged(b *testing.B) {
	e := sharedBenchEnv(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		e.snap.People[5].Title = "Title revision " + strconv.Itoa(i)
		pub, err := directory.Normalize(e.snap)
		if err != nil {
			b.Fatal(err)
		}
		res, err := e.st.Apply(pub)
		if err != nil || res.Updated != 1 {
			b.Fatalf("apply: %+v %v", res, err)
		}
	}
}

// BenchmarkQueryOfTheMostTermsAllowed is the costliest query a client may
// send: maxQueryTerms terms that match nothing, over the whole book.
func BenchmarkQueryOfTheMostTermsAllowed(b *testing.B) {
	e := sharedBenchEnv(b)
	var sb strings.Builder
	sb.WriteString(`<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/></D:prop><C:filter>`)
	for range maxQueryTerms / 2 {
		sb.WriteString(`<C:prop-filter name="FN"><C:text-match match-type="contains">` + strings.Repeat("z", maxTextMatchSize) + `</C:text-match></C:prop-filter>`)
	}
	sb.WriteString(`</C:filter></C:addressbook-query>`)
	body := sb.String()
	for b.Loop() {
		e.serve(b, "REPORT", bookPath("alice", bookCompany), body)
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(len(e.hrefs)), "µs/card")
}
