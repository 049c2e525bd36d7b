package carddav

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-vcard"
	"github.com/emersion/go-webdav"
	gocarddav "github.com/emersion/go-webdav/carddav"
	"github.com/orgdav/orgdav/auth"
	"github.com/orgdav/orgdav/directory"
	"github.com/orgdav/orgdav/store"
	"github.com/prometheus/client_golang/prometheus"
)

func TestGoWebdavClientDiscoverSyncMultigetQueryPut(t *testing.T) {
	e := newEnv(t, 300)
	ctx := context.Background()
	c, err := gocarddav.NewClient(webdav.HTTPClientWithBasicAuth(nil, "alice", directory.DemoPassword), e.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	principal, err := c.FindCurrentUserPrincipal(ctx)
	if err != nil || principal != principalPath("alice") {
		t.Fatalf("principal %q %v", principal, err)
	}
	home, err := c.FindAddressBookHomeSet(ctx, principal)
	if err != nil || home != homePath("alice") {
		t.Fatalf("home %q %v", home, err)
	}
	books, err := c.FindAddressBooks(ctx, home)
	if err != nil || len(books) != 2 || books[0].Path != bookPath("alice", bookCompany) || books[0].Name != "Company" {
		t.Fatalf("books %+v %v", books, err)
	}
	company := books[0].Path

	sync, err := c.SyncCollection(ctx, company, &gocarddav.SyncQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sync.Updated) < 300 || len(sync.Deleted) != 0 || sync.SyncToken == "" {
		t.Fatalf("initial sync: %d updated, %d deleted, token %q", len(sync.Updated), len(sync.Deleted), sync.SyncToken)
	}
	var paths []string
	for _, o := range sync.Updated[:100] {
		paths = append(paths, o.Path)
	}
	objs, err := c.MultiGetAddressBook(ctx, company, &gocarddav.AddressBookMultiGet{Paths: paths, DataRequest: gocarddav.AddressDataRequest{AllProp: true}})
	if err != nil || len(objs) != 100 {
		t.Fatalf("multiget: %d %v", len(objs), err)
	}
	for _, o := range objs {
		if o.Card.Value(vcard.FieldUID)+".vcf" != o.Path[strings.LastIndex(o.Path, "/")+1:] {
			t.Fatalf("href %s does not derive from UID %s", o.Path, o.Card.Value(vcard.FieldUID))
		}
	}

	found, err := c.QueryAddressBook(ctx, company, &gocarddav.AddressBookQuery{
		DataRequest: gocarddav.AddressDataRequest{AllProp: true},
		PropFilters: []gocarddav.PropFilter{{Name: vcard.FieldFormattedName, TextMatches: []gocarddav.TextMatch{{Text: "CAROL SCH"}}}},
	})
	if err != nil || len(found) != 1 || found[0].Card.Value(vcard.FieldFormattedName) != "Carol Schmidt" {
		t.Fatalf("case-insensitive FN query: %d %v", len(found), err)
	}
	byMail, err := c.QueryAddressBook(ctx, company, &gocarddav.AddressBookQuery{
		DataRequest: gocarddav.AddressDataRequest{AllProp: true},
		PropFilters: []gocarddav.PropFilter{{Name: vcard.FieldEmail, TextMatches: []gocarddav.TextMatch{{Text: "dave.obrien@", MatchType: gocarddav.MatchStartsWith}}}},
	})
	if err != nil || len(byMail) != 1 {
		t.Fatalf("EMAIL query: %d %v", len(byMail), err)
	}

	card := vcard.Card{}
	card.SetValue(vcard.FieldVersion, "3.0")
	card.SetValue(vcard.FieldUID, "friend-1")
	card.SetValue(vcard.FieldFormattedName, "A Friend")
	card.SetValue(vcard.FieldName, "Friend;A;;;")
	put, err := c.PutAddressObject(ctx, books[1].Path+"friend-1.vcf", card)
	if err != nil || put.ETag == "" {
		t.Fatalf("personal PUT: %+v %v", put, err)
	}
	if _, err := c.PutAddressObject(ctx, company+"friend-1.vcf", card); err == nil {
		t.Fatal("PUT into the company book succeeded")
	}
	psync, err := c.SyncCollection(ctx, books[1].Path, &gocarddav.SyncQuery{})
	if err != nil || len(psync.Updated) != 1 {
		t.Fatalf("personal sync: %+v %v", psync, err)
	}
}

func TestSyncReportsOnlyDirectoryChangesAndNeverDuplicates(t *testing.T) {
	e := newEnv(t, 300)
	all, _, tok := e.sync("alice", "")
	uidOf := func(username string) string {
		return bookPath("alice", bookCompany) + directory.CardUID(directory.PersonKey(directory.DemoSource, e.person(username).ID)) + ".vcf"
	}
	carol, dave := uidOf("carol"), uidOf("dave")
	if _, ok := all[carol]; !ok {
		t.Fatal("carol not in initial sync")
	}

	steps := []struct {
		name        string
		mutate      func()
		wantChanged []string
		wantDeleted []string
	}{
		{"rename", func() { e.person("carol").DisplayName = "Carol Schmidt-Weber" }, []string{carol}, nil},
		{"email change", func() { e.person("carol").Emails = []string{"carol.sw@example.org"} }, []string{carol}, nil},
		{"hide", func() { e.person("dave").Hidden = true }, nil, []string{dave}},
		{"unhide", func() { e.person("dave").Hidden = false }, []string{dave}, nil},
		{"nothing", func() {}, nil, nil},
		{"remove", func() {
			for i, p := range e.snap.People {
				if p.Username == "dave" {
					e.snap.People = append(e.snap.People[:i], e.snap.People[i+1:]...)
					return
				}
			}
		}, nil, []string{dave}},
	}
	for _, st := range steps {
		st.mutate()
		e.apply()
		changed, deleted, next := e.sync("alice", tok)
		var got []string
		for h := range changed {
			got = append(got, h)
		}
		// A rename also rewrites the manager name on reports' cards and
		// group cards; only the named cards are asserted.
		for _, w := range st.wantChanged {
			if _, ok := changed[w]; !ok {
				t.Errorf("%s: %s not reported as changed (got %v)", st.name, w, got)
			}
		}
		if fmt.Sprint(deleted) != fmt.Sprint(st.wantDeleted) && !(len(deleted) == 0 && len(st.wantDeleted) == 0) {
			t.Errorf("%s: deleted %v, want %v", st.name, deleted, st.wantDeleted)
		}
		if st.name == "nothing" && (len(changed) != 0 || next != tok) {
			t.Errorf("no-change sync reported %v, token %q -> %q", got, tok, next)
		}
		if st.name == "email change" && len(changed) != 1 {
			t.Errorf("email change of one person reported %d cards: %v", len(changed), got)
		}
		tok = next
	}
	// Adding a person: exactly one new card, with a new href.
	e.snap.People = append(e.snap.People, directory.Person{ID: "new-hire", Username: "newbie", GivenName: "New", FamilyName: "Hire", Department: "Sales"})
	e.apply()
	changed, _, _ := e.sync("alice", tok)
	newHref := bookPath("alice", bookCompany) + directory.CardUID(directory.PersonKey(directory.DemoSource, "new-hire")) + ".vcf"
	if _, ok := changed[newHref]; !ok {
		t.Errorf("new hire not reported: %v", changed)
	}
	// Full listing: every UID once.
	r := e.do("PROPFIND", bookPath("alice", bookCompany), "alice", `<propfind xmlns="DAV:"><prop><getetag/></prop></propfind>`, "Depth", "1")
	seen := map[string]bool{}
	for _, resp := range parseMS(t, r.body).Responses {
		if seen[resp.Href] {
			t.Fatalf("href %s listed twice", resp.Href)
		}
		seen[resp.Href] = true
	}
}

func TestSyncCoversViewChangeWhenViewerMovesDepartment(t *testing.T) {
	e := newEnv(t, 300)
	_, _, tok := e.sync("alice", "")
	// Mobiles are same-department: moving alice from Engineering to Sales
	// changes what she sees of both departments' people.
	e.person("alice").Department = "Sales"
	e.apply()
	changed, _, _ := e.sync("alice", tok)
	carol := bookPath("alice", bookCompany) + directory.CardUID(directory.PersonKey(directory.DemoSource, e.person("carol").ID)) + ".vcf"
	dave := bookPath("alice", bookCompany) + directory.CardUID(directory.PersonKey(directory.DemoSource, e.person("erin").ID)) + ".vcf"
	if _, ok := changed[carol]; !ok {
		t.Errorf("engineering colleague's card (mobile now hidden) not reported; %d reported", len(changed))
	}
	salesPerson := ""
	for _, p := range e.snap.People {
		if p.Department == "Sales" && p.Username != "alice" && !p.Hidden && !p.Disabled && len(p.Phones) > 0 {
			salesPerson = bookPath("alice", bookCompany) + directory.CardUID(directory.PersonKey(directory.DemoSource, p.ID)) + ".vcf"
			break
		}
	}
	if _, ok := changed[salesPerson]; !ok {
		t.Errorf("new department colleague's card (mobile now visible) not reported")
	}
	if _, ok := changed[dave]; ok {
		t.Errorf("marketing card reported though nothing changed for alice")
	}
	// And the reported ETags are those a fresh listing shows now.
	all, _, _ := e.sync("alice", "")
	for h, etag := range changed {
		if all[h] != etag {
			t.Errorf("%s: delta etag %s, listing %s", h, etag, all[h])
		}
	}
}

func TestRawHTTPEdgeCases(t *testing.T) {
	e := newEnv(t, 60)
	company := bookPath("alice", bookCompany)
	all, _, tok := e.sync("alice", "")
	var card, etag string
	for h, t := range all {
		card, etag = h, t
		break
	}
	t.Run("sync limit truncates with 507 and continues", func(t *testing.T) {
		seen := map[string]bool{}
		token := ""
		for round := 0; round < 100; round++ {
			body := strings.Replace(syncBody(token, false), "<D:prop>", "<D:limit><D:nresults>25</D:nresults></D:limit><D:prop>", 1)
			r := e.do("REPORT", company, "alice", body)
			m := parseMS(t, r.body)
			truncated := false
			for _, resp := range m.Responses {
				if resp.Href == company && strings.Contains(resp.Status, "507") {
					truncated = true
					continue
				}
				if seen[resp.Href] {
					t.Fatalf("%s returned twice while paging", resp.Href)
				}
				seen[resp.Href] = true
			}
			token = m.SyncToken
			if !truncated {
				break
			}
		}
		if len(seen) != len(all) {
			t.Fatalf("paging returned %d cards, want %d", len(seen), len(all))
		}
	})
	t.Run("If-None-Match gives 304", func(t *testing.T) {
		r := e.do("GET", card, "alice", "", "If-None-Match", etag)
		if r.code != http.StatusNotModified {
			t.Fatalf("got %d", r.code)
		}
	})
	t.Run("GET serves 3.0 by default and 4.0 on Accept with one ETag", func(t *testing.T) {
		r3 := e.do("GET", card, "alice", "")
		r4 := e.do("GET", card, "alice", "", "Accept", "text/vcard; version=4.0")
		if !strings.Contains(r3.body, "VERSION:3.0") || !strings.Contains(r4.body, "VERSION:4.0") {
			t.Fatalf("versions: %q / %q", r3.body[:30], r4.body[:30])
		}
		if r3.header.Get("ETag") != r4.header.Get("ETag") || r3.header.Get("ETag") != etag {
			t.Fatalf("etags differ: %s %s %s", r3.header.Get("ETag"), r4.header.Get("ETag"), etag)
		}
	})
	t.Run("writes to the company book get 403 need-privileges and the card stays", func(t *testing.T) {
		for _, w := range []struct{ method, path, names string }{
			{"PUT", card, "<D:href>" + card + "</D:href><D:privilege><D:write-content/>"},
			{"DELETE", card, "<D:href>" + company + "</D:href><D:privilege><D:unbind/>"},
			{"PUT", company + "new-card.vcf", "<D:href>" + company + "</D:href><D:privilege><D:bind/>"},
			{"DELETE", company, "<D:href>" + homePath("alice") + "</D:href><D:privilege><D:unbind/>"},
			{"MKCOL", company, "<D:href>" + homePath("alice") + "</D:href><D:privilege><D:bind/>"},
		} {
			r := e.do(w.method, w.path, "alice", "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:x\r\nFN:x\r\nEND:VCARD\r\n")
			if r.code != http.StatusForbidden || !strings.Contains(r.body, "<D:need-privileges><D:resource>"+w.names) {
				t.Fatalf("%s %s: %d %s", w.method, w.path, r.code, r.body)
			}
		}
		if r := e.do("GET", card, "alice", ""); r.code != http.StatusOK {
			t.Fatalf("card gone after refused delete: %d", r.code)
		}
	})
	t.Run("unknown or stale token gives 403 valid-sync-token", func(t *testing.T) {
		for _, bad := range []string{"b905a5fd-ce23-4190-9be3-236969d071a8", "urn:x-orgdav:sync/ffffffffffff/company/1/x", tok + "9"} {
			r := e.do("REPORT", company, "alice", syncBody(bad, false))
			if r.code != http.StatusForbidden || !strings.Contains(r.body, "<D:valid-sync-token/>") {
				t.Fatalf("token %q: %d %s", bad, r.code, r.body)
			}
		}
	})
	t.Run("Thunderbird gets 400 for an invalid token, which it recovers from", func(t *testing.T) {
		r := e.do("REPORT", company, "alice", syncBody("urn:x-orgdav:sync/ffffffffffff/company/1/x", false),
			"User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0")
		if r.code != http.StatusBadRequest || !strings.Contains(r.body, "<D:valid-sync-token/>") {
			t.Fatalf("%d %s", r.code, r.body)
		}
	})
	t.Run("personal PUT 201 then 204, preconditions 412, invalid 400", func(t *testing.T) {
		p := bookPath("alice", bookPersonal) + "k.vcf"
		v4 := "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:k\r\nFN:Kim\r\nEND:VCARD\r\n"
		if r := e.do("PUT", p, "alice", v4, "If-None-Match", "*"); r.code != http.StatusCreated || r.header.Get("ETag") == "" {
			t.Fatalf("create: %d", r.code)
		}
		if r := e.do("PUT", p, "alice", v4, "If-None-Match", "*"); r.code != http.StatusPreconditionFailed {
			t.Fatalf("create again: %d", r.code)
		}
		if r := e.do("PUT", p, "alice", strings.Replace(v4, "Kim", "Kim Lee", 1), "If-Match", `"nope"`); r.code != http.StatusPreconditionFailed {
			t.Fatalf("stale If-Match: %d", r.code)
		}
		if r := e.do("PUT", p, "alice", strings.Replace(v4, "Kim", "Kim Lee", 1)); r.code != http.StatusNoContent {
			t.Fatalf("update: %d", r.code)
		}
		if r := e.do("GET", p, "alice", ""); r.body != strings.Replace(strings.Replace(v4, "Kim", "Kim Lee", 1), "4.0", "3.0", 1) {
			t.Fatalf("served as 3.0: %q", r.body)
		}
		if r := e.do("GET", p, "alice", "", "Accept", "text/vcard;version=4.0"); r.body != strings.Replace(v4, "Kim", "Kim Lee", 1) {
			t.Fatalf("4.0 not verbatim: %q", r.body)
		}
		if r := e.do("PUT", p, "alice", "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:no uid\r\nEND:VCARD\r\n"); r.code != http.StatusBadRequest || !strings.Contains(r.body, "valid-address-data") {
			t.Fatalf("invalid vCard: %d %s", r.code, r.body)
		}
		if r := e.do("DELETE", p, "alice", "", "If-Match", `"stale"`); r.code != http.StatusPreconditionFailed {
			t.Fatalf("stale delete: %d", r.code)
		}
		if r := e.do("DELETE", p, "alice", ""); r.code != http.StatusNoContent {
			t.Fatalf("delete: %d", r.code)
		}
	})
}

func TestBadInputIsRefusedAndChangesNothing(t *testing.T) {
	e := newEnv(t, 60)
	before := e.st.Index().Rev
	company := bookPath("alice", bookCompany)
	billion := `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><D:propfind xmlns:D="DAV:"><D:prop>&lol2;</D:prop></D:propfind>`
	cases := []struct {
		name, method, path, user, body string
		want                           int
		inBody                         string
	}{
		{"no credentials", "PROPFIND", company, "", "", http.StatusUnauthorized, ""},
		{"malformed XML", "PROPFIND", company, "alice", "<D:propfind xmlns:D='DAV:'><D:prop>", http.StatusBadRequest, ""},
		{"entity expansion", "PROPFIND", company, "alice", billion, http.StatusBadRequest, ""},
		{"unknown REPORT", "REPORT", company, "alice", `<D:expand-property xmlns:D="DAV:"/>`, http.StatusForbidden, "supported-report"},
		{"REPORT on principal", "REPORT", principalPath("alice"), "alice", syncBody("", false), http.StatusForbidden, "supported-report"},
		{"oversized body", "REPORT", company, "alice", "<D:sync-collection xmlns:D=\"DAV:\">" + strings.Repeat("<D:x/>", 2<<20) + "</D:sync-collection>", http.StatusRequestEntityTooLarge, ""},
		{"oversized card", "PUT", bookPath("alice", bookPersonal) + "big.vcf", "alice", "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:b\r\nFN:b\r\nNOTE:" + strings.Repeat("x", 2<<20) + "\r\nEND:VCARD\r\n", http.StatusRequestEntityTooLarge, ""},
		{"unknown path", "PROPFIND", "/dav/unknown/", "alice", "", http.StatusNotFound, ""},
		{"unknown book", "PROPFIND", homePath("alice") + "secret/", "alice", "", http.StatusNotFound, ""},
		{"unknown card", "GET", company + "nope.vcf", "alice", "", http.StatusNotFound, ""},
		{"other user's home", "PROPFIND", homePath("bob"), "alice", "", http.StatusNotFound, ""},
		{"other user's personal card", "GET", bookPath("bob", bookPersonal) + "x.vcf", "alice", "", http.StatusNotFound, ""},
		{"bad sync-level", "REPORT", company, "alice", strings.Replace(syncBody("", false), "<D:sync-level>1", "<D:sync-level>7", 1), http.StatusBadRequest, ""},
		{"unsupported collation", "REPORT", company, "alice", `<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/></D:prop><C:filter><C:prop-filter name="FN"><C:text-match collation="x;klingon">a</C:text-match></C:prop-filter></C:filter></C:addressbook-query>`, http.StatusForbidden, "supported-collation"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(c.method, c.path, c.user, c.body)
			if r.code != c.want || !strings.Contains(r.body, c.inBody) {
				t.Fatalf("%s %s: %d (want %d) %.300s", c.method, c.path, r.code, c.want, r.body)
			}
		})
	}
	if e.st.Index().Rev != before {
		t.Fatal("bad input changed the store")
	}
	if r := e.do("GET", "/healthz", "", ""); r.code != http.StatusOK {
		t.Fatalf("server unhealthy after bad input: %d", r.code)
	}
}

func TestFailedLoginsAreThrottled(t *testing.T) {
	e := newEnv(t, 60)
	codes := map[int]int{}
	for i := 0; i < 10; i++ {
		req, _ := http.NewRequest("PROPFIND", e.srv.URL+homePath("bob"), nil)
		req.SetBasicAuth("bob", "wrong")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes[resp.StatusCode]++
		if resp.StatusCode == http.StatusUnauthorized && !strings.Contains(resp.Header.Get("WWW-Authenticate"), `realm="orgdav"`) {
			t.Fatalf("challenge %q", resp.Header.Get("WWW-Authenticate"))
		}
	}
	if codes[http.StatusUnauthorized] != 5 || codes[http.StatusTooManyRequests] != 5 {
		t.Fatalf("want 5 refusals then throttling, got %v", codes)
	}
	// An unknown user is refused exactly like a wrong password.
	a := e.do("PROPFIND", "/", "nobody-here", "")
	req, _ := http.NewRequest("PROPFIND", e.srv.URL+"/", nil)
	req.SetBasicAuth("carol", "wrong")
	resp, _ := http.DefaultClient.Do(req)
	resp.Body.Close()
	if a.code != resp.StatusCode {
		t.Fatalf("unknown user %d vs wrong password %d", a.code, resp.StatusCode)
	}
}

func TestGroupMembersAreCardsOfTheSameBook(t *testing.T) {
	e := newEnv(t, 300)
	for _, v4 := range []bool{false, true} {
		body := syncBody("", true)
		member := "X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:"
		if v4 {
			body = strings.Replace(body, "<C:address-data/>", `<C:address-data content-type="text/vcard" version="4.0"/>`, 1)
			member = "MEMBER:urn:uuid:"
		}
		r := e.do("REPORT", bookPath("alice", bookCompany), "alice", body)
		uids := map[string]bool{}
		var groups []string
		for _, resp := range parseMS(t, r.body).Responses {
			card := unfoldBody(resp.data())
			for _, l := range strings.Split(card, "\r\n") {
				if u, ok := strings.CutPrefix(l, "UID:"); ok {
					if uids[u] {
						t.Fatalf("UID %s twice in the book", u)
					}
					uids[u] = true
				}
			}
			if strings.Contains(card, "KIND:group") {
				groups = append(groups, card)
			}
		}
		if len(groups) < 18 {
			t.Fatalf("v4=%v: %d group cards", v4, len(groups))
		}
		members := 0
		for _, g := range groups {
			for _, l := range strings.Split(g, "\r\n") {
				if u, ok := strings.CutPrefix(l, member); ok {
					members++
					if !uids[u] {
						t.Errorf("group member %s is not a card of the book", u)
					}
				}
			}
		}
		if members < 300 {
			t.Errorf("v4=%v: only %d memberships across %d groups", v4, members, len(groups))
		}
	}
}

func TestMultigetOfThousandsOfHrefsGzipAndHead(t *testing.T) {
	e := newEnv(t, 300)
	all, _, _ := e.sync("alice", "")
	var hrefs []string
	for h := range all {
		hrefs = append(hrefs, "<D:href>"+h+"</D:href>")
	}
	var sb strings.Builder
	for len(strings.Split(sb.String(), "<D:href>")) <= 5000 {
		sb.WriteString(strings.Join(hrefs, ""))
	}
	body := `<C:addressbook-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/><C:address-data/></D:prop>` + sb.String() + `</C:addressbook-multiget>`
	// Each card once, however often it is asked for.
	want := len(hrefs)
	req, _ := http.NewRequest("REPORT", e.srv.URL+bookPath("alice", bookCompany), strings.NewReader(body))
	req.SetBasicAuth("alice", directory.DemoPassword)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("no gzip: %v", resp.Header)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(parseMS(t, string(plain)).Responses); got != want {
		t.Fatalf("multiget of %d hrefs, %d distinct, answered %d", strings.Count(body, "<D:href>"), want, got)
	}
	var href string
	for h := range all {
		href = h
		break
	}
	head := e.do("HEAD", href, "alice", "")
	if head.code != http.StatusOK || head.body != "" || head.header.Get("ETag") != all[href] || head.header.Get("Content-Length") == "" {
		t.Fatalf("HEAD: %d %q %v", head.code, head.body, head.header)
	}
}

// unavailableAuth answers every login with one error.
type unavailableAuth struct{ err error }

func (u unavailableAuth) Authenticate(context.Context, string, string) (string, error) {
	return "", u.err
}

func TestLoginsTheDirectoryCannotAnswerYetAreToldToRetryNotRefused(t *testing.T) {
	for _, c := range []struct {
		err    error
		reason string
	}{{auth.ErrNotReady, "not-ready"}, {auth.ErrDirectoryUnavailable, "directory-unavailable"}} {
		t.Run(c.reason, func(t *testing.T) {
			st, err := store.Open(filepath.Join(t.TempDir(), "db"), store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			rules, _ := directory.NewRules(nil)
			reg := prometheus.NewRegistry()
			srv := httptest.NewServer(Routes(New(st, rules, unavailableAuth{c.err}, Options{Registry: reg}), st, reg))
			defer srv.Close()
			// More than the throttle allows: none of them is a failure.
			for i := 0; i < 8; i++ {
				req, _ := http.NewRequest("PROPFIND", srv.URL+"/", nil)
				req.SetBasicAuth("alice", "right")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || resp.Header.Get("WWW-Authenticate") != "" {
					t.Fatalf("login %d: %d, Retry-After %q, challenge %q", i, resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("WWW-Authenticate"))
				}
			}
			metrics := get(t, srv.URL+"/metrics")
			if !strings.Contains(metrics, `orgdav_auth_failures_total{reason="`+c.reason+`"} 8`) || strings.Contains(metrics, `reason="bad-credentials"`) {
				t.Fatalf("metrics:\n%s", grepLines(metrics, "orgdav_auth_failures_total"))
			}
			if !strings.Contains(metrics, "# HELP orgdav_auth_failures_total") || !strings.Contains(grepLines(metrics, "# HELP orgdav_auth_failures_total"), c.reason) {
				t.Errorf("the metric's help does not name %s", c.reason)
			}
			// Guesses while the directory is down cost the client, as
			// failures do: 20, then one every 2 s.
			codes := map[int]int{}
			for i := 0; i < 20; i++ {
				req, _ := http.NewRequest("PROPFIND", srv.URL+"/", nil)
				req.SetBasicAuth("alice", fmt.Sprint("guess-", i))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				codes[resp.StatusCode]++
			}
			if want := map[string]int{"directory-unavailable": http.StatusTooManyRequests, "not-ready": http.StatusServiceUnavailable}[c.reason]; codes[want] == 0 {
				t.Errorf("%s: 20 more attempts from one client: %v, want some %d", c.reason, codes, want)
			}
		})
	}
}

func get(t *testing.T, url string) string {
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
