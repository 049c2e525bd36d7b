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
// addressbook-multiget of every card in batches of 100, in vCard 3.0 and
// 4.0; and as macOS and Thunderbird can, one initial sync-collection
// asking for address-data. Cold starts each download with an empty
// render cache; warm repeats it for the same viewer. µs/card is server
// time per card; the demo directory gives every seventh person a photo.
func BenchmarkFullSync(b *testing.B) {
	for _, people := range fullSyncSizes() {
		b.Run(fmt.Sprintf("people=%d", people), func(b *testing.B) {
			b.Setenv("ORGDAV_BENCH_PEOPLE", strconv.Itoa(people))
			e := newBenchEnv(b, "orgdav-fullsync")
			defer func() { e.st.Close(); os.RemoveAll(e.dir) }()
			ix := e.st.Index()
			book := bookPath("alice", bookCompany)
			multiget := func(data string, headers ...string) func() int {
				var batches []string
				for start := 0; start < len(ix.Items); start += 100 {
					var sb strings.Builder
					sb.WriteString(`<C:addressbook-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/>` + data + `</D:prop>`)
					for _, it := range ix.Items[start:min(start+100, len(ix.Items))] {
						sb.WriteString("<D:href>" + book + it.Name + ".vcf</D:href>")
					}
					sb.WriteString("</C:addressbook-multiget>")
					batches = append(batches, sb.String())
				}
				return func() int {
					n := e.serve(b, "PROPFIND", book, `<propfind xmlns="DAV:"><prop><getetag/></prop></propfind>`, append([]string{"Depth", "1"}, headers...)...).n
					for _, body := range batches {
						n += e.serve(b, "REPORT", book, body, headers...).n
					}
					return n
				}
			}
			for _, dl := range []struct {
				name     string
				download func() int
			}{
				{"propfind+multiget/vcard=3.0", multiget(`<C:address-data/>`)},
				{"propfind+multiget/vcard=4.0", multiget(`<C:address-data content-type="text/vcard" version="4.0"/>`)},
				// bytes/card is then what goes over the wire.
				{"propfind+multiget/vcard=3.0/gzip", multiget(`<C:address-data/>`, "Accept-Encoding", "gzip")},
				{"sync-collection/vcard=3.0", func() int {
					return e.serve(b, "REPORT", book, `<D:sync-collection xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:sync-token/><D:sync-level>1</D:sync-level><D:prop><D:getetag/><C:address-data/></D:prop></D:sync-collection>`).n
				}},
			} {
				for _, mode := range []string{"cold", "warm"} {
					b.Run(dl.name+"/"+mode, func(b *testing.B) {
						e.s.cache = newRenderCache(e.s.opt.RenderCacheBytes)
						if mode == "warm" {
							// The cache keeps a card escaped for reports
							// from its second request on.
							dl.download()
							dl.download()
						}
						b.ReportAllocs()
						var n int
						for b.Loop() {
							if mode == "cold" {
								b.StopTimer()
								e.s.cache = newRenderCache(e.s.opt.RenderCacheBytes)
								b.StartTimer()
							}
							n = dl.download()
						}
						b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e3/float64(b.N)/float64(len(ix.Items)), "µs/card")
						b.ReportMetric(float64(n)/float64(len(ix.Items)), "bytes/card")
					})
				}
			}
		})
	}
}
