package carddav

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// fullSyncSizes are the directory sizes of the full-sync benchmarks
// (ORGDAV_FULLSYNC_PEOPLE, comma-separated; default 10,000 and 100,000).
func fullSyncSizes() []int {
	spec := os.Getenv("ORGDAV_FULLSYNC_PEOPLE")
	if spec == "" {
		spec = "10000,100000"
	}
	var out []int
	for _, f := range strings.Split(spec, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}

// BenchmarkFullSync is a phone's first download of the Company book, as
// DAVx5 and iOS do it: PROPFIND Depth 1 for the ETags, then
// addressbook-multiget of every card in batches of 100. Cold starts each
// download with an empty render cache; warm repeats it for the same
// viewer. µs/card is server time per card.
func BenchmarkFullSync(b *testing.B) {
	for _, people := range fullSyncSizes() {
		b.Run(fmt.Sprintf("people=%d", people), func(b *testing.B) {
			b.Setenv("ORGDAV_BENCH_PEOPLE", strconv.Itoa(people))
			e := newBenchEnv(b, "orgdav-fullsync")
			defer func() { e.st.Close(); os.RemoveAll(e.dir) }()
			propfind := `<propfind xmlns="DAV:"><prop><getetag/></prop></propfind>`
			var batches []string
			ix := e.st.Index()
			for start := 0; start < len(ix.Items); start += 100 {
				var sb strings.Builder
				sb.WriteString(`<C:addressbook-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/><C:address-data/></D:prop>`)
				for _, it := range ix.Items[start:min(start+100, len(ix.Items))] {
					sb.WriteString("<D:href>" + bookPath("alice", bookCompany) + it.Name + ".vcf</D:href>")
				}
				sb.WriteString("</C:addressbook-multiget>")
				batches = append(batches, sb.String())
			}
			download := func() int {
				n := e.serve(b, "PROPFIND", bookPath("alice", bookCompany), propfind, "Depth", "1").n
				for _, body := range batches {
					n += e.serve(b, "REPORT", bookPath("alice", bookCompany), body).n
				}
				return n
			}
			for _, mode := range []string{"cold", "warm"} {
				b.Run(mode, func(b *testing.B) {
					if mode == "warm" {
						// The cache keeps a card escaped for reports
						// from its second request on.
						download()
						download()
					}
					b.ReportAllocs()
					var n int
					for b.Loop() {
						if mode == "cold" {
							b.StopTimer()
							e.s.cache = newRenderCache(e.s.opt.RenderCacheBytes)
							b.StartTimer()
						}
						n = download()
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e3/float64(b.N)/float64(len(ix.Items)), "µs/card")
					b.ReportMetric(float64(n)/float64(len(ix.Items)), "bytes/card")
				})
			}
		})
	}
}
