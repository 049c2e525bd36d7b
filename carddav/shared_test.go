package carddav

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/orgdav/orgdav/directory"
	"github.com/orgdav/orgdav/store"
)

// sharedList creates a list of n contacts whose names and addresses carry
// tag, so a response that leaks any of them is easy to spot.
func (e *env) sharedList(tag string, a store.Audience, n int) *store.List {
	e.t.Helper()
	l := &store.List{Name: "List " + tag, State: store.ListEnabled, Audience: a}
	if err := e.st.CreateList(l); err != nil {
		e.t.Fatal(err)
	}
	var writes []store.ContactWrite
	for i := 0; i < n; i++ {
		email := fmt.Sprintf("c%d.%s@partner.example", i, tag)
		card := fmt.Sprintf("BEGIN:VCARD\r\nVERSION:4.0\r\nUID:%s-%d\r\nFN:Contact %d %s\r\nEMAIL:%s\r\nTEL:+1 555 %s %04d\r\nEND:VCARD\r\n", tag, i, i, tag, email, tag, i)
		writes = append(writes, store.ContactWrite{Contact: store.Contact{ID: fmt.Sprintf("%s-%d.vcf", tag, i), UID: fmt.Sprintf("%s-%d", tag, i), Emails: []string{email}, Card: []byte(card)}})
	}
	if _, err := e.st.WriteContacts(l.ID, 0, writes); err != nil {
		e.t.Fatal(err)
	}
	return l
}

// companyHrefs lists the hrefs of a viewer's Company book from a fresh sync.
func (e *env) companyHrefs(user string) (map[string]string, string) {
	e.t.Helper()
	changed, _, tok := e.sync(user, "")
	return changed, tok
}

func listHrefs(e *env, user string, l *store.List) []string {
	var out []string
	ix := e.st.Index()
	for _, it := range ix.ListCards(l.ID) {
		out = append(out, bookPath(user, bookCompany)+it.Name+".vcf")
	}
	return append(out, bookPath(user, bookCompany)+l.ID+".vcf")
}

// The audience matrix: over random viewers, a list's contacts and group
// card are in the Company book of exactly those its audience admits
// (everyone but the excluded, a department, a group with nesting, the
// managers, named users), and a change of audience, a disabled list and
// a deleted list reach each viewer as exactly the adds and removes they
// need in their next delta.
func TestSharedListsReachExactlyTheirAudience(t *testing.T) {
	e := newEnv(t, 200)
	pub, err := directory.Normalize(e.snap)
	if err != nil {
		t.Fatal(err)
	}
	key := func(user string) string {
		for _, p := range pub.People {
			if p.Username == user {
				return p.Key
			}
		}
		t.Fatalf("no %s", user)
		return ""
	}
	platform := directory.GroupKey("demo", e.snap.Groups[0].ID)
	for _, g := range pub.Groups {
		if g.Name == "Platform" {
			platform = g.Key
		}
	}
	lists := []struct {
		l     *store.List
		admit func(p *directory.Entry) bool
	}{
		{e.sharedList("all", store.Audience{Everyone: true, Except: store.Members{Users: []string{key("bob")}, Departments: []string{"Sales"}}}, 5),
			func(p *directory.Entry) bool { return p.Username != "bob" && p.Department != "Sales" }},
		{e.sharedList("eng", store.Audience{Members: store.Members{Departments: []string{"Engineering"}}}, 4),
			func(p *directory.Entry) bool { return p.Department == "Engineering" }},
		{e.sharedList("plat", store.Audience{Members: store.Members{Groups: []string{platform}}}, 3),
			func(p *directory.Entry) bool { return slices.Contains(p.Groups, platform) }},
		{e.sharedList("mgr", store.Audience{Managers: true, Members: store.Members{Users: []string{key("erin")}}}, 2),
			func(p *directory.Entry) bool { return p.IsManager || p.Username == "erin" }},
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var viewers []*directory.Entry
	for _, i := range rng.Perm(len(pub.People)) {
		if p := &pub.People[i]; p.Username != "" && len(viewers) < 12 {
			viewers = append(viewers, p)
		}
	}
	for _, u := range []string{"alice", "bob", "carol", "dave", "erin"} {
		for i := range pub.People {
			if pub.People[i].Username == u {
				viewers = append(viewers, &pub.People[i])
			}
		}
	}
	tokens := map[string]string{}
	for _, v := range viewers {
		got, tok := e.companyHrefs(v.Username)
		tokens[v.Username] = tok
		for _, c := range lists {
			hrefs := listHrefs(e, v.Username, c.l)
			n := 0
			for _, h := range hrefs {
				if _, ok := got[h]; ok {
					n++
				}
			}
			want := 0
			if c.admit(v) {
				want = len(hrefs)
			}
			if n != want {
				t.Errorf("%s (dept %s, groups %v, manager %t) has %d of %d cards of %s, want %d", v.Username, v.Department, v.Groups, v.IsManager, n, len(hrefs), c.l.Name, want)
			}
		}
	}
	// The "eng" list goes to Sales instead; "mgr" is disabled; "plat" is
	// deleted. Each viewer's next delta carries exactly the difference.
	eng, mgr, plat := lists[1], lists[3], lists[2]
	engHrefs := map[string][]string{}
	platHrefs := map[string][]string{}
	for _, v := range viewers {
		engHrefs[v.Username] = listHrefs(e, v.Username, eng.l)
		platHrefs[v.Username] = listHrefs(e, v.Username, plat.l)
	}
	if _, err := e.st.UpdateList(eng.l.ID, 0, func(l *store.List) error {
		l.Audience = store.Audience{Members: store.Members{Departments: []string{"Sales"}}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.st.UpdateList(mgr.l.ID, 0, func(l *store.List) error { l.State = store.ListDisabled; return nil })
	if err := e.st.DeleteList(plat.l.ID, 0); err != nil {
		t.Fatal(err)
	}
	for _, v := range viewers {
		changed, deleted, _ := e.sync(v.Username, tokens[v.Username])
		gone := map[string]bool{}
		for _, d := range deleted {
			gone[d] = true
		}
		inEngBefore, inEngNow := v.Department == "Engineering", v.Department == "Sales"
		for _, h := range engHrefs[v.Username] {
			_, added := changed[h]
			if added != (inEngNow && !inEngBefore) || gone[h] != (inEngBefore && !inEngNow) {
				t.Errorf("%s (%s): eng card %s added %t removed %t", v.Username, v.Department, h, added, gone[h])
			}
		}
		for _, h := range listHrefs(e, v.Username, mgr.l) {
			if gone[h] != mgr.admit(v) {
				t.Errorf("%s: disabled list card %s removed %t, want %t", v.Username, h, gone[h], mgr.admit(v))
			}
		}
		for _, h := range platHrefs[v.Username] {
			if gone[h] != plat.admit(v) {
				t.Errorf("%s: deleted list card %s removed %t, want %t", v.Username, h, gone[h], plat.admit(v))
			}
		}
		for h := range changed {
			if !strings.Contains(h, "/") || (!inEngNow && slices.Contains(engHrefs[v.Username], h)) {
				t.Errorf("%s: unexpected card %s", v.Username, h)
			}
		}
		if len(changed) > 0 && !(inEngNow && !inEngBefore) {
			t.Errorf("%s got %d cards in a delta that should only remove", v.Username, len(changed))
		}
	}
}

// Outsiders learn nothing of a list: not a card, a group, a search hit, an
// href that answers, a count in their token, or a byte of it in any answer.
func TestSharedListsLeakNothingToOutsiders(t *testing.T) {
	e := newEnv(t, 60)
	insider, outsider := "alice", "dave" // Engineering, Sales
	_, before := e.companyHrefs(outsider)
	l := e.sharedList("secretxyz", store.Audience{Members: store.Members{Departments: []string{"Engineering"}}}, 6)
	if _, tok := e.companyHrefs(outsider); tok != before {
		t.Errorf("the outsider's token moved with the list: %s -> %s", before, tok)
	}
	if got, _ := e.companyHrefs(insider); !slices.ContainsFunc(listHrefs(e, insider, l), func(h string) bool { _, ok := got[h]; return ok }) {
		t.Fatal("the insider does not receive the list")
	}
	company := bookPath(outsider, bookCompany)
	var bodies []string
	record := func(r reply) { bodies = append(bodies, r.body, fmt.Sprint(r.header)) }
	record(e.do("PROPFIND", company, outsider, `<propfind xmlns="DAV:"><allprop/></propfind>`, "Depth", "1"))
	record(e.do("PROPFIND", homePath(outsider), outsider, "", "Depth", "1"))
	record(e.do("REPORT", company, outsider, syncBody("", true)))
	record(e.do("REPORT", company, outsider, syncBody(before, true)))
	record(e.do("REPORT", company, outsider, `<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/><C:address-data/></D:prop><C:filter><C:prop-filter name="FN"><C:text-match>secretxyz</C:text-match></C:prop-filter></C:filter></C:addressbook-query>`))
	record(e.do("GET", company+"?export", outsider, ""))
	var hrefs []string
	for _, h := range listHrefs(e, outsider, l) {
		hrefs = append(hrefs, "<D:href>"+h+"</D:href>")
		if r := e.do("GET", h, outsider, ""); r.code != http.StatusNotFound {
			t.Errorf("GET %s as an outsider: %d", h, r.code)
		}
		if r := e.do("PROPFIND", h, outsider, "", "Depth", "0"); r.code != http.StatusNotFound {
			t.Errorf("PROPFIND %s as an outsider: %d", h, r.code)
		}
		if r := e.do("PUT", h, outsider, "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:x\r\nFN:x\r\nEND:VCARD\r\n"); r.code != http.StatusForbidden {
			t.Errorf("PUT %s as an outsider: %d", h, r.code)
		}
	}
	multi := e.do("REPORT", company, outsider, `<C:addressbook-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/><C:address-data/></D:prop>`+strings.Join(hrefs, "")+`</C:addressbook-multiget>`)
	for _, r := range parseMS(t, multi.body).Responses {
		if !strings.Contains(r.Status, "404") {
			t.Errorf("multiget of %s as an outsider: %s", r.Href, r.Status)
		}
	}
	record(e.do("GET", bookPath(outsider, sharedPrefix+l.ID)+"?export", outsider, ""))
	all := strings.Join(bodies, "\n")
	for _, secret := range []string{"secretxyz", l.Name, l.ID} {
		if strings.Contains(all, secret) {
			t.Errorf("an outsider's answers contain %q", secret)
		}
	}
	// Edits of the list do not move the outsider's token either.
	e.st.WriteContacts(l.ID, 0, []store.ContactWrite{{Contact: store.Contact{ID: "secretxyz-0.vcf"}, Delete: true}})
	if _, tok := e.companyHrefs(outsider); tok != before {
		t.Errorf("the outsider's token moved with an edit of the list")
	}
}

// A directory person who is also in a list the viewer receives is one
// card: the directory's, which the list's group card names.
func TestADirectoryPersonInAListIsOneCard(t *testing.T) {
	e := newEnv(t, 40)
	bob := e.person("bob")
	l := &store.List{Name: "Escalation", State: store.ListEnabled, Audience: store.Audience{Everyone: true}}
	e.st.CreateList(l)
	card := "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:bob-copy\r\nFN:Bob N. (copy)\r\nEMAIL:" + strings.ToUpper(bob.Emails[0]) + "\r\nEND:VCARD\r\n"
	pubBob, _ := e.st.Index().User("bob")
	if _, err := e.st.WriteContacts(l.ID, 0, []store.ContactWrite{
		{Contact: store.Contact{ID: "bob.vcf", UID: "bob-copy", Emails: []string{bob.Emails[0]}, Card: []byte(card)}},
		{Contact: store.Contact{ID: "ref-alice", Ref: mustUser(t, e, "alice").Name}},
	}); err != nil {
		t.Fatal(err)
	}
	got, _ := e.companyHrefs("carol")
	copies := 0
	for h := range got {
		if strings.Contains(h, l.ID+"-") {
			copies++
		}
	}
	if copies != 0 {
		t.Errorf("carol's book holds %d copies of directory people", copies)
	}
	r := e.do("GET", bookPath("carol", bookCompany)+l.ID+".vcf", "carol", "", "Accept", "text/vcard; version=4.0")
	if r.code != 200 || !strings.Contains(r.body, "MEMBER:urn:uuid:"+pubBob.Name) || !strings.Contains(r.body, "MEMBER:urn:uuid:"+mustUser(t, e, "alice").Name) || !strings.Contains(r.body, "KIND:group") {
		t.Errorf("the list's group card: %d\n%s", r.code, r.body)
	}
}

func mustUser(t *testing.T, e *env, user string) *store.Item {
	it, ok := e.st.Index().User(user)
	if !ok {
		t.Fatalf("no %s", user)
	}
	return it
}

// Editors get the list as a writable book of its own (and not in their
// Company book); what they write reaches the audience at its next sync;
// everyone else is refused.
func TestEditorsWriteTheListAndTheAudienceSeesIt(t *testing.T) {
	e := newEnv(t, 40)
	erin := mustUser(t, e, "erin")
	l := &store.List{Name: "Suppliers", State: store.ListEnabled, Audience: store.Audience{Everyone: true}, Editors: store.Members{Users: []string{erin.Key}}}
	if err := e.st.CreateList(l); err != nil {
		t.Fatal(err)
	}
	book := bookPath("erin", sharedPrefix+l.ID)
	home := e.do("PROPFIND", homePath("erin"), "erin", "", "Depth", "1")
	if !strings.Contains(home.body, book) || !strings.Contains(home.body, "Suppliers") {
		t.Fatalf("erin's home set lacks the list's book:\n%s", home.body)
	}
	_, tok := e.companyHrefs("alice")
	put := e.do("PUT", book+"acme.vcf", "erin", "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:acme-1\r\nFN:Acme Hotline\r\nTEL:+1 555 0100\r\nEND:VCARD\r\n", "If-None-Match", "*")
	if put.code != http.StatusCreated || put.header.Get("ETag") == "" {
		t.Fatalf("PUT by the editor: %d %s", put.code, put.body)
	}
	if got := e.do("GET", book+"acme.vcf", "erin", ""); got.code != 200 || got.header.Get("ETag") != put.header.Get("ETag") || !strings.Contains(got.body, "UID:acme-1") {
		t.Errorf("GET of the editor's card: %d %s %s", got.code, got.header.Get("ETag"), got.body)
	}
	changed, _, _ := e.sync("alice", tok)
	found := false
	for h := range changed {
		if strings.HasPrefix(h, bookPath("alice", bookCompany)+l.ID) && h != bookPath("alice", bookCompany)+l.ID+".vcf" {
			found = true
		}
	}
	if !found {
		t.Errorf("alice's delta lacks the new contact: %v", changed)
	}
	if erinCompany, _ := e.companyHrefs("erin"); len(erinCompany) == 0 || slices.ContainsFunc(listHrefs(e, "erin", l), func(h string) bool { _, ok := erinCompany[h]; return ok }) {
		t.Errorf("the list is in its editor's Company book too")
	}
	if r := e.do("PUT", bookPath("alice", sharedPrefix+l.ID)+"x.vcf", "alice", "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:x\r\nFN:X\r\nEND:VCARD\r\n"); r.code != http.StatusNotFound {
		t.Errorf("a non-editor's PUT into the list's book: %d", r.code)
	}
	if r := e.do("DELETE", bookPath("erin", sharedPrefix+l.ID)+"acme.vcf", "erin", "", "If-Match", `"wrong"`); r.code != http.StatusPreconditionFailed {
		t.Errorf("a DELETE with a stale If-Match: %d", r.code)
	}
	if r := e.do("DELETE", book+"acme.vcf", "erin", ""); r.code != http.StatusNoContent {
		t.Errorf("the editor's DELETE: %d", r.code)
	}
	exp := e.do("GET", bookPath("alice", bookCompany)+"?export", "alice", "")
	if exp.code != 200 || strings.Count(exp.body, "BEGIN:VCARD") < 40 || !strings.Contains(exp.header.Get("Content-Disposition"), "attachment") {
		t.Errorf("export: %d, %d cards, %q", exp.code, strings.Count(exp.body, "BEGIN:VCARD"), exp.header.Get("Content-Disposition"))
	}
}

func TestSharedListMetricsCountListsAndContacts(t *testing.T) {
	e := newEnv(t, 20)
	l := e.sharedList("m", store.Audience{Everyone: true}, 3)
	e.st.CreateList(&store.List{Name: "Draft one", State: store.ListDraft})
	r := e.do("GET", "/metrics", "", "")
	for _, want := range []string{
		`orgdav_shared_list_contacts{list="` + l.ID + `"} 3`,
		`orgdav_shared_lists{state="enabled"} 1`,
		`orgdav_shared_lists{state="draft"} 1`,
		`orgdav_shared_lists{state="disabled"} 0`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// A viewer renamed in the directory keeps the lists their audience gives
// them: audiences hold stable ids, so their next delta is empty of them.
func TestARenamedViewerStaysInTheAudience(t *testing.T) {
	e := newEnv(t, 40)
	carol := mustUser(t, e, "carol")
	l := e.sharedList("ren", store.Audience{Members: store.Members{Users: []string{carol.Key}}}, 2)
	got, tok := e.companyHrefs("carol")
	if _, ok := got[bookPath("carol", bookCompany)+l.ID+".vcf"]; !ok {
		t.Fatal("carol does not receive the list")
	}
	e.person("carol").Username = "carol.weber"
	e.apply()
	changed, deleted, _ := e.sync("carol.weber", tok)
	for _, d := range deleted {
		if strings.Contains(d, l.ID) {
			t.Errorf("the renamed viewer lost %s", d)
		}
	}
	for h := range changed {
		if strings.Contains(h, l.ID) {
			t.Errorf("the renamed viewer got %s again", h)
		}
	}
	if lists, _ := e.st.Index().ListsFor(mustUser(t, e, "carol.weber")); !slices.Contains(lists, l.ID) {
		t.Error("the renamed viewer is out of the audience")
	}
}

// Each writable book keeps its own properties: an editor renaming one
// shared list's book renames that book only, not their personal book nor
// another list's book, and renaming the personal book leaves the lists'.
func TestRenamingOneBookLeavesTheOthers(t *testing.T) {
	e := newEnv(t, 40)
	erin := mustUser(t, e, "erin")
	var lists []*store.List
	for _, name := range []string{"Suppliers", "Partners"} {
		l := &store.List{Name: name, State: store.ListEnabled, Audience: store.Audience{Everyone: true}, Editors: store.Members{Users: []string{erin.Key}}}
		if err := e.st.CreateList(l); err != nil {
			t.Fatal(err)
		}
		lists = append(lists, l)
	}
	one, other := bookPath("erin", sharedPrefix+lists[0].ID), bookPath("erin", sharedPrefix+lists[1].ID)
	personal := bookPath("erin", bookPersonal)
	rename := func(path, name string) {
		t.Helper()
		r := e.do("PROPPATCH", path, "erin", `<D:propertyupdate xmlns:D="DAV:" xmlns:A="http://apple.com/ns/ical/"><D:set><D:prop><D:displayname>`+name+`</D:displayname><A:calendar-color>`+name+`</A:calendar-color></D:prop></D:set></D:propertyupdate>`)
		if r.code != http.StatusMultiStatus || strings.Count(r.body, status200) != 1 || strings.Contains(r.body, "403") {
			t.Fatalf("PROPPATCH %s: %d %s", path, r.code, r.body)
		}
	}
	names := func() map[string]string {
		t.Helper()
		r := e.do("PROPFIND", homePath("erin"), "erin", `<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>`, "Depth", "1")
		out := map[string]string{}
		for _, resp := range parseMS(t, r.body).Responses {
			p, _ := resp.prop(nsDAV, "displayname")
			color, _ := resp.prop("http://apple.com/ns/ical/", "calendar-color")
			out[resp.Href] = p.Text + "|" + color.Text
		}
		for _, path := range []string{one, other, personal} {
			r := e.do("PROPFIND", path, "erin", "", "Depth", "0")
			resp := parseMS(t, r.body).Responses[0]
			p, _ := resp.prop(nsDAV, "displayname")
			color, _ := resp.prop("http://apple.com/ns/ical/", "calendar-color")
			if got := p.Text + "|" + color.Text; got != out[path] {
				t.Errorf("%s: %q at Depth 0, %q in the home set", path, got, out[path])
			}
		}
		return out
	}
	rename(one, "Vendors")
	got := names()
	if got[one] != "Vendors|Vendors" || got[other] != "Partners|" || got[personal] != "Personal|" {
		t.Errorf("after renaming one list's book: %v", got)
	}
	rename(personal, "Mine")
	got = names()
	if got[one] != "Vendors|Vendors" || got[other] != "Partners|" || got[personal] != "Mine|Mine" {
		t.Errorf("after renaming the personal book: %v", got)
	}
}
