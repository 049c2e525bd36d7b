package carddav

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgdav/orgdav/directory"
	"github.com/orgdav/orgdav/store"
)

// benchLists is the shared-list load of the list benchmarks: 1,000 lists
// holding four contacts per directory person in all (200,000 beside
// 50,000 people), each for a department, a few for everyone.
const benchLists = 1000

type listsBenchEnv struct {
	*benchEnv
	watched *store.List // received by alice, its audience flipped by a benchmark
	setup   time.Duration
}

var (
	listsBenchOnce sync.Once
	listsBenchE    *listsBenchEnv
)

func sharedListsBenchEnv(b *testing.B) *listsBenchEnv {
	listsBenchOnce.Do(func() {
		base := newBenchEnv(b, "orgdav-lists-bench")
		st := base.st
		depts := st.Index().Departments()
		perList := max(1, 4*benchPeople()/benchLists)
		start := time.Now()
		e := &listsBenchEnv{benchEnv: base}
		for i := range benchLists {
			a := store.Audience{Members: store.Members{Departments: []string{depts[i%len(depts)]}}}
			if i%100 == 0 {
				a = store.Audience{Everyone: true}
			}
			l := &store.List{Name: fmt.Sprintf("List %d", i), State: store.ListEnabled, Audience: a}
			if err := st.CreateList(l); err != nil {
				b.Fatal(err)
			}
			writes := make([]store.ContactWrite, perList)
			for j := range writes {
				email := fmt.Sprintf("c%d@l%d.example", j, i)
				writes[j] = store.ContactWrite{Contact: store.Contact{ID: fmt.Sprintf("c%d.vcf", j), Emails: []string{email},
					Card: fmt.Appendf(nil, "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:l%d-c%d\r\nFN:Contact %d of list %d\r\nEMAIL:%s\r\nTEL:+1 555 %04d\r\nEND:VCARD\r\n", i, j, j, i, email, j)}}
			}
			if _, err := st.WriteContacts(l.ID, 0, writes); err != nil {
				b.Fatal(err)
			}
			if i == 1 {
				e.watched = l // Engineering, alice's department
			}
		}
		e.setup = time.Since(start)
		v := e.s.viewerFor("alice")
		e.token = (&companyBook{s: e.s, v: v}).token()
		listsBenchE = e
	})
	return listsBenchE
}

func listsBenchEnvOrNil() *benchEnv {
	if listsBenchE == nil {
		return nil
	}
	return listsBenchE.benchEnv
}

// BenchmarkSharedListsNoChangePoll is a phone's poll with nothing new,
// with 1,000 lists and 200,000 shared contacts in the store.
func BenchmarkSharedListsNoChangePoll(b *testing.B) {
	e := sharedListsBenchEnv(b)
	body := syncBody(e.token, false)
	b.ReportAllocs()
	for b.Loop() {
		if w := e.serve(b, "REPORT", bookPath("alice", bookCompany), body); w.n > 600 {
			b.Fatalf("no-change poll answered %d bytes", w.n)
		}
	}
	ix := e.st.Index()
	b.ReportMetric(float64(ix.Contacts), "contacts")
	b.ReportMetric(e.setup.Seconds(), "setup-s")
}

// BenchmarkSharedListAudienceChangePoll is a viewer's next poll after a
// list they received left their audience: it reports the list's cards as
// removed, at a cost that follows those cards, not the book.
func BenchmarkSharedListAudienceChangePoll(b *testing.B) {
	e := sharedListsBenchEnv(b)
	v := e.s.viewerFor("alice")
	if !v.view.Receives(e.watched.ID) {
		b.Fatalf("alice does not receive %s (%v)", e.watched.Name, e.watched.Audience)
	}
	tok := (&companyBook{s: e.s, v: v}).token()
	book := len(e.st.Index().Items)
	if _, err := e.st.UpdateList(e.watched.ID, 0, func(l *store.List) error {
		l.Audience = store.Audience{Members: store.Members{Departments: []string{"Sales"}}}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	defer e.st.UpdateList(e.watched.ID, 0, func(l *store.List) error { l.Audience = e.watched.Audience; return nil })
	body := syncBody(tok, false)
	b.ReportAllocs()
	var n int
	for b.Loop() {
		w := e.serve(b, "REPORT", bookPath("alice", bookCompany), body)
		n = w.n
	}
	b.ReportMetric(float64(len(e.st.Index().ListCards(e.watched.ID))+1), "cards-removed")
	b.ReportMetric(float64(book), "cards-in-store")
	b.ReportMetric(float64(n), "body-bytes")
}

// BenchmarkEditorPutSharedContact is an editor's phone saving one contact
// of a list, with 200,000 shared contacts in the store.
func BenchmarkEditorPutSharedContact(b *testing.B) {
	e := sharedListsBenchEnv(b)
	alice, _ := e.st.Index().User("alice")
	l := &store.List{Name: fmt.Sprintf("Edited %d", time.Now().UnixNano()), State: store.ListEnabled, Audience: store.Audience{Everyone: true}, Editors: store.Members{Users: []string{alice.Key}}}
	if err := e.st.CreateList(l); err != nil {
		b.Fatal(err)
	}
	defer e.st.DeleteList(l.ID, 0)
	path := bookPath("alice", sharedPrefix+l.ID)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		card := fmt.Sprintf("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:put-%d\r\nFN:Put %d\r\nEND:VCARD\r\n", i, i)
		req, _ := http.NewRequest("PUT", path+fmt.Sprintf("put-%d.vcf", i), strings.NewReader(card))
		req.SetBasicAuth("alice", directory.DemoPassword)
		req.Header.Set("Content-Type", "text/vcard")
		w := &discard{h: http.Header{}}
		e.s.ServeHTTP(w, req)
		if w.code != http.StatusCreated {
			b.Fatalf("PUT: %d", w.code)
		}
	}
}
