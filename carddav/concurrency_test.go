package carddav

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestReadersStayConsistentWhileDirectoryRunsApply has clients list, sync
// and multiget while the directory changes underneath: every answer is a
// well-formed 207 and every listed card can be fetched with the ETag the
// listing gave, or has changed since (never a 5xx, never a torn response).
func TestReadersStayConsistentWhileDirectoryRunsApply(t *testing.T) {
	e := newEnv(t, 200)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan string, 100)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			token := ""
			for i := 0; i < 30; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := e.do("REPORT", bookPath("alice", bookCompany), "alice", syncBody(token, w%2 == 0))
				if r.code != http.StatusMultiStatus {
					errs <- fmt.Sprintf("sync: %d %s", r.code, r.body)
					return
				}
				m := parseMS(t, r.body)
				token = m.SyncToken
				for _, resp := range m.Responses {
					if w%2 == 0 && resp.Status == "" && !strings.HasPrefix(resp.data(), "BEGIN:VCARD") {
						errs <- "card without data in sync: " + resp.Raw
					}
				}
			}
		}(w)
	}
	for i := 0; i < 20; i++ {
		e.person("carol").Title = fmt.Sprintf("Engineer %d", i)
		e.person("dave").Hidden = i%2 == 0
		e.apply()
	}
	close(stop)
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Error(msg)
	}
	// After the dust settles a delta from any token lands on the same state
	// as a fresh listing.
	fresh, _, _ := e.sync("alice", "")
	for href, etag := range fresh {
		r := e.do("GET", href, "alice", "")
		if r.code != http.StatusOK || r.header.Get("ETag") != etag {
			t.Fatalf("%s: %d etag %s, listing said %s", href, r.code, r.header.Get("ETag"), etag)
		}
	}
}

func TestMetricsCountRequestsSyncsAndAuthFailures(t *testing.T) {
	e := newEnv(t, 60)
	e.sync("alice", "")
	e.do("PROPFIND", "/", "", "")
	r := e.do("GET", "/metrics", "", "")
	for _, want := range []string{
		`orgdav_http_requests_total{code="207",method="REPORT",report="sync-collection"} 1`,
		`orgdav_sync_collection_total{result="initial"} 1`,
		`orgdav_auth_failures_total{reason="missing"} 1`,
		"orgdav_company_book_people 59",
		"orgdav_http_request_duration_seconds_bucket",
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
