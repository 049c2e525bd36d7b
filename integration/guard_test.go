package integration

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// TestBinaryHoldsAMassDeletionThatArrivesInBatches deletes 15% of the
// people in three batches, each under max_removal_share, as one large
// ldapdelete reaches orgdav: pushed by slapd's syncprov in several
// incremental runs, or found by several polling sweeps. The batches that
// take the sum past 10% are held; confirming applies them.
func TestBinaryHoldsAMassDeletionThatArrivesInBatches(t *testing.T) {
	for _, c := range []struct {
		name        string
		start       func(t *testing.T, ldif string) *slapd
		incremental string
	}{
		{"pushed by syncprov", startSlapd, "5s"},
		{"polled by sweeps", startSlapdWithoutSyncprov, "5s"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ldif, people := generateOrg(300)
			srv := c.start(t, ldif)
			bin := buildBinary(t)
			dir := t.TempDir()
			cfg := writeSourceConfig(t, dir, srv, c.incremental)
			data := filepath.Join(dir, "data")
			url, logs, stop := runBinary(t, bin, "--config", cfg, "--data", data)
			defer stop()
			dav := davClient{t: t, base: url}
			viewer, vpass := people[9].uid, "pw-"+people[9].uid
			book := func() float64 { return metric(t, url, "orgdav_company_book_people") }
			held := func() float64 { return metric(t, url, `orgdav_directory_held_removals{source="corp"}`) }
			waitFor(t, "the first directory run", func() bool { return book() > 0 })
			published := book()
			_, _, token := dav.syncBook(viewer, vpass, "")

			// Three batches of 15 among about 290 published: 5% each.
			var batches [3][]orgPerson
			for i := 100; len(batches[2]) < 15; i++ {
				if people[i].kind == "" {
					b := &batches[min(2, (len(batches[0])+len(batches[1]))/15)]
					*b = append(*b, people[i])
				}
			}
			admin := srv.admin()
			remove := func(batch []orgPerson) {
				for _, p := range batch {
					must(t, admin.Del(ldap.NewDelRequest(dnOf(p), nil)))
				}
			}
			wait := func(what string, cond func() bool) {
				t.Helper()
				deadline := time.Now().Add(45 * time.Second)
				for !cond() {
					if time.Now().After(deadline) {
						t.Fatalf("waiting for %s: book %v, held %v\n%s", what, book(), held(), logs)
					}
					time.Sleep(200 * time.Millisecond)
				}
			}
			remove(batches[0])
			wait("the first batch to be applied", func() bool { return book() == published-15 })
			remove(batches[1])
			wait("the second batch to be held", func() bool { return held() == 15 })
			// While held, changes are weighed again once per incremental
			// interval, not at each push.
			remove(batches[2])
			wait("the third batch to be held with it", func() bool { return held() == 30 })
			if book() != published-15 {
				t.Fatalf("while held the book has %v people, want %v", book(), published-15)
			}
			_, deleted, _ := dav.syncBook(viewer, vpass, token)
			if len(deleted) != 15 {
				t.Fatalf("a phone saw %d deletions before the confirmation, want the first batch's 15", len(deleted))
			}
			out, _ := orgdav(t, bin, "logs", "--config", cfg, "--data", data, "-n", "5")
			if !strings.Contains(out, "held") || !strings.Contains(out, "with the 15 removed since") || !strings.Contains(out, "removal_window") {
				t.Fatalf("orgdav logs does not say what adds up:\n%s", out)
			}
			out, code := orgdav(t, bin, "sync", "--config", cfg, "--data", data, "--confirm", "corp")
			if code != 0 || !strings.Contains(out, "applied") || !strings.Contains(out, "confirmed by an admin") {
				t.Fatalf("orgdav sync --confirm: %d\n%s", code, out)
			}
			if book() != published-45 || held() != 0 {
				t.Fatalf("after confirming: book %v (want %v), held %v", book(), published-45, held())
			}
			_, deleted, _ = dav.syncBook(viewer, vpass, token)
			if len(deleted) != 45 {
				t.Fatalf("after confirming a phone sees %d deletions, want 45", len(deleted))
			}
			// Counting starts afresh: one more small batch goes through.
			remove(people[200:203])
			wait("a later deletion after the confirmation", func() bool { return book() == published-48 })
			if code, _ := dav.do("PROPFIND", "/", viewer, vpass, "", "Depth", "0"); code != http.StatusMultiStatus {
				t.Fatalf("the viewer after all that: %d", code)
			}
			t.Logf("of %v people, 15 removed, 30 more held until confirmed", published)
		})
	}
}
