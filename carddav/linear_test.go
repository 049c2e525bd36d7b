package carddav

import (
	"bytes"
	"context"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

// requireLinear fails unless the work of run grows linearly with its
// input: run(8n) may cost at most a fixed factor times run(n), where
// linear work costs 8 and quadratic 64. Cost is bytes allocated, which
// does not depend on the machine's load (at most ×20), and time, best of
// three, which does (at most ×32: tests run beside others, with -race).
func requireLinear(t *testing.T, n int, run func(n int)) {
	t.Helper()
	const limit, timeLimit = 20, 32
	cost := func(n int) (time.Duration, uint64) {
		best := time.Duration(1 << 62)
		var bytes uint64
		for range 3 {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			run(n)
			best = min(best, time.Since(start))
			runtime.ReadMemStats(&after)
			bytes = after.TotalAlloc - before.TotalAlloc
		}
		return best, bytes
	}
	t1, b1 := cost(n)
	t8, b8 := cost(8 * n)
	t.Logf("n=%d: %v, %d bytes; 8n: %v, %d bytes (×%.1f time, ×%.1f bytes)", n, t1, b1, t8, b8, float64(t8)/float64(t1), float64(b8)/float64(b1))
	if b8 > limit*b1 {
		t.Errorf("allocation grows faster than the input: ×%.1f for ×8", float64(b8)/float64(b1))
	}
	if t1 > time.Millisecond && t8 > timeLimit*t1 {
		t.Errorf("time grows faster than the input: ×%.1f for ×8", float64(t8)/float64(t1))
	}
}

func TestParsingIsLinearOnTheWorstInputsFound(t *testing.T) {
	t.Run("XML text split by comments and processing instructions", func(t *testing.T) {
		requireLinear(t, 20000, func(n int) {
			body := `<propfind xmlns="DAV:"><prop><displayname>` + strings.Repeat("a<!---->b<?pi?>", n) + `</displayname></prop></propfind>`
			if _, err := parseXML(strings.NewReader(body)); err != nil {
				t.Fatal(err)
			}
		})
	})
	folded := func(n int) []byte {
		var b bytes.Buffer
		b.WriteString("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u\r\nFN:F\r\nNOTE:a")
		for range n {
			b.WriteString("\r\n a")
		}
		b.WriteString("\r\nEND:VCARD\r\n")
		return b.Bytes()
	}
	t.Run("a PUT of a card of many continuation lines", func(t *testing.T) {
		requireLinear(t, 30000, func(n int) {
			if _, err := checkCard(folded(n)); err != nil {
				t.Fatal(err)
			}
		})
	})
	t.Run("a GET of it converted to 4.0", func(t *testing.T) {
		requireLinear(t, 30000, func(n int) { convertCard(folded(n), true) })
	})
	t.Run("a GET as 3.0 of a 4.0 card of one property with many parameters", func(t *testing.T) {
		requireLinear(t, 20000, func(n int) {
			card := "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:u\r\nFN:F\r\nX-A" + strings.Repeat(";a", n) + ":v\r\nEND:VCARD\r\n"
			if _, err := checkCard([]byte(card)); err != nil {
				t.Fatal(err)
			}
			convertCard([]byte(card), false)
		})
	})
	t.Run("a query of it", func(t *testing.T) {
		qr := queryRequest{filters: []propFilter{{name: "NOTE", texts: []textMatch{{text: "zzz", matchType: "contains", caseless: true}}}}}
		requireLinear(t, 30000, func(n int) { qr.matches(folded(n)) })
	})
}

func TestAQueryOfTooManyTermsIsRefused(t *testing.T) {
	e := newEnv(t, 60)
	filters := strings.Repeat(`<C:prop-filter name="FN"><C:text-match>a</C:text-match></C:prop-filter>`, maxQueryTerms/2+1)
	r := e.do("REPORT", bookPath("alice", bookCompany), "alice", `<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/></D:prop><C:filter>`+filters+`</C:filter></C:addressbook-query>`)
	if r.code != 403 || !strings.Contains(r.body, "<C:supported-filter/>") {
		t.Fatalf("%d %s", r.code, r.body)
	}
	long := `<C:prop-filter name="FN"><C:text-match>` + strings.Repeat("a", maxTextMatchSize+1) + `</C:text-match></C:prop-filter>`
	if r := e.do("REPORT", bookPath("alice", bookCompany), "alice", `<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/></D:prop><C:filter>`+long+`</C:filter></C:addressbook-query>`); r.code != 403 {
		t.Fatalf("a long text-match: %d", r.code)
	}
}

func TestAQueryStopsWhenItsClientLeaves(t *testing.T) {
	e := newEnv(t, 300)
	body := `<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/></D:prop><C:filter><C:prop-filter name="FN"><C:text-match>a</C:text-match></C:prop-filter></C:filter></C:addressbook-query>`
	ask := func(ctx context.Context) int {
		req := httptest.NewRequest("REPORT", bookPath("alice", bookCompany), strings.NewReader(body)).WithContext(ctx)
		req.SetBasicAuth("alice", "demo")
		w := httptest.NewRecorder()
		e.srv.Config.Handler.ServeHTTP(w, req)
		return strings.Count(w.Body.String(), "<D:response>")
	}
	if n := ask(context.Background()); n < 100 {
		t.Fatalf("the query matched %d cards", n)
	}
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if n := ask(gone); n != 0 {
		t.Fatalf("the query went on for %d cards after its client left", n)
	}
}
