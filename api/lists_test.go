package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/orgdav/orgdav/store"
)

// doH is do with request headers.
func (e *env) doH(t *testing.T, user, method, path, body string, headers ...string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, e.http.URL+path, strings.NewReader(body))
	if user != "" {
		req.SetBasicAuth(user, "demo")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String(), resp.Header
}

func (e *env) createList(t *testing.T, body string) ListView {
	t.Helper()
	status, b := e.do(t, "alice", "POST", "/api/v1/lists", body)
	if status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, b)
	}
	var l ListView
	json.Unmarshal([]byte(b), &l)
	return l
}

const outlookCSV = "First Name,Last Name,Company,E-mail Address,Business Phone\r\n" +
	"Jane,Doe,Acme,jane@acme.example,+1 555 0101\r\n" +
	"John,Roe,Acme,john@acme.example,+1 555 0102\r\n" +
	"Jane,Doe,Acme,JANE@acme.example,+1 555 0101\r\n" +
	",,,,\r\n"

// Every route: without a login 401, without the admin role 403, and
// neither gets any of the data; with it, what the route does.
func TestEveryListRouteNeedsTheAdminRole(t *testing.T) {
	e := newEnv(t)
	l := e.createList(t, `{"name":"Suppliers","state":"enabled","audience":{"everyone":true}}`)
	status, b := e.do(t, "alice", "POST", "/api/v1/lists/"+l.ID+"/contacts", `{"fn":"Acme Hotline","emails":["help@acme.example"]}`)
	if status != http.StatusCreated {
		t.Fatalf("add contact: %d %s", status, b)
	}
	var c ContactView
	json.Unmarshal([]byte(b), &c)
	routes := []struct {
		method, path, body string
		ok                 int
	}{
		{"GET", "/api/v1/lists", "", 200},
		{"POST", "/api/v1/lists", `{"name":"Another"}`, 201},
		{"GET", "/api/v1/lists/" + l.ID, "", 200},
		{"PATCH", "/api/v1/lists/" + l.ID, `{"description":"Who we buy from"}`, 200},
		{"GET", "/api/v1/lists/" + l.ID + "/members", "", 200},
		{"GET", "/api/v1/lists/" + l.ID + "/contacts", "", 200},
		{"GET", "/api/v1/lists/" + l.ID + "/contacts/" + c.ID, "", 200},
		{"PUT", "/api/v1/lists/" + l.ID + "/contacts/" + c.ID, `{"fn":"Acme Help","emails":["help@acme.example"]}`, 200},
		{"POST", "/api/v1/lists/" + l.ID + "/import?dry_run=true", outlookCSV, 200},
		{"POST", "/api/v1/lists/" + l.ID + "/import", outlookCSV, 200},
		{"GET", "/api/v1/lists/" + l.ID + "/export?format=csv", "", 200},
		{"GET", "/api/v1/directory/groups", "", 200},
		{"GET", "/api/v1/directory/departments", "", 200},
		{"GET", "/api/v1/users/carol/personal/export", "", 200},
		{"POST", "/api/v1/users/carol/personal/import", outlookCSV, 200},
		{"DELETE", "/api/v1/lists/" + l.ID + "/contacts/" + c.ID, "", 200},
		{"DELETE", "/api/v1/lists/" + l.ID, "", 200},
	}
	for _, rt := range routes {
		for _, who := range []struct {
			user   string
			status int
		}{{"", 401}, {"bob", 403}, {"alice", rt.ok}} {
			status, body := e.do(t, who.user, rt.method, rt.path, rt.body)
			if status != who.status {
				t.Errorf("%s %s as %q: %d %.300s", rt.method, rt.path, who.user, status, body)
			}
			if who.user != "alice" && (strings.Contains(body, "Suppliers") || strings.Contains(body, "acme") || !json.Valid([]byte(body))) {
				t.Errorf("%s %s as %q gave data away: %.300s", rt.method, rt.path, who.user, body)
			}
		}
	}
}

// A user may import into and export their own personal book; another
// user's is refused.
func TestPersonalBooksAreTheirOwnersToImportAndExport(t *testing.T) {
	e := newEnv(t)
	if status, b := e.do(t, "bob", "POST", "/api/v1/users/bob/personal/import", outlookCSV); status != 200 || !strings.Contains(b, `"created":2`) {
		t.Fatalf("bob's own import: %d %s", status, b)
	}
	status, b, h := e.doH(t, "bob", "GET", "/api/v1/users/bob/personal/export?format=vcard&version=4.0", "")
	if status != 200 || strings.Count(b, "BEGIN:VCARD") != 2 || !strings.Contains(h.Get("Content-Disposition"), ".vcf") {
		t.Fatalf("bob's own export: %d %s", status, b)
	}
	for _, path := range []string{"/api/v1/users/carol/personal/export", "/api/v1/users/BOB2/personal/export"} {
		if status, b := e.do(t, "bob", "GET", path, ""); status != 403 {
			t.Errorf("bob: %s: %d %s", path, status, b)
		}
	}
	if status, _ := e.do(t, "bob", "POST", "/api/v1/users/carol/personal/import", outlookCSV); status != 403 {
		t.Errorf("bob imported into carol's book: %d", status)
	}
}

func TestListRequestsNameTheFieldAtFault(t *testing.T) {
	e := newEnv(t)
	l := e.createList(t, `{"name":"Suppliers"}`)
	cases := []struct {
		name, method, path, body string
		status                   int
		field                    string
	}{
		{"not JSON", "POST", "/api/v1/lists", `{"name":`, 400, "body"},
		{"an unknown field", "POST", "/api/v1/lists", `{"name":"X","colour":"red"}`, 400, "colour"},
		{"a wrong type", "POST", "/api/v1/lists", `{"name":42}`, 400, "name"},
		{"no name", "POST", "/api/v1/lists", `{"state":"enabled"}`, 400, "name"},
		{"a clashing name", "POST", "/api/v1/lists", `{"name":"suppliers"}`, 409, "name"},
		{"a bad state", "POST", "/api/v1/lists", `{"name":"Y","state":"on"}`, 400, "state"},
		{"an unknown user", "POST", "/api/v1/lists", `{"name":"Y","audience":{"users":["alice","nobody-here"]}}`, 400, "audience.users[1]"},
		{"an unknown group", "POST", "/api/v1/lists", `{"name":"Y","audience":{"groups":["No Such Team"]}}`, 400, "audience.groups[0]"},
		{"an unknown department", "POST", "/api/v1/lists", `{"name":"Y","audience":{"except":{"departments":["Nowhere"]}}}`, 400, "audience.except.departments[0]"},
		{"editors by department", "POST", "/api/v1/lists", `{"name":"Y","editors":{"departments":["Engineering"]}}`, 400, "editors.departments"},
		{"live with editors", "POST", "/api/v1/lists", `{"name":"Y","live":{"department":"Engineering"},"editors":{"users":["erin"]}}`, 400, "editors"},
		{"an unknown list", "GET", "/api/v1/lists/nosuchlistid", ``, 404, "id"},
		{"an unknown contact", "GET", "/api/v1/lists/" + l.ID + "/contacts/nope.vcf", ``, 404, "cid"},
		{"a stale If-Match", "PATCH", "/api/v1/lists/" + l.ID, `{"description":"x"}`, 412, "If-Match"},
		{"a contact of nothing", "POST", "/api/v1/lists/" + l.ID + "/contacts", `{}`, 400, "body"},
		{"a contact of two kinds", "POST", "/api/v1/lists/" + l.ID + "/contacts", `{"person":"bob","fn":"Bob"}`, 400, "body"},
		{"a broken vCard", "POST", "/api/v1/lists/" + l.ID + "/contacts", `{"vcard":"BEGIN:VCARD\nFN:x\n"}`, 400, "vcard"},
		{"a broken file", "POST", "/api/v1/lists/" + l.ID + "/import", "First Name,E-mail Address\n\"Jane,jane@x.example\n", 400, "file"},
		{"a bad export format", "GET", "/api/v1/lists/" + l.ID + "/export?format=pdf", ``, 400, "format"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, b, _ := e.doH(t, "alice", c.method, c.path, c.body, "If-Match", map[bool]string{true: `"99"`, false: ""}[c.status == 412])
			var got Error
			if status != c.status || json.Unmarshal([]byte(b), &got) != nil || got.Field != c.field || got.Message == "" {
				t.Fatalf("%d %s, want %d naming %q", status, b, c.status, c.field)
			}
		})
	}
	if n := len(e.st.Index().ListCards(l.ID)); n != 0 {
		t.Errorf("refused requests stored %d contacts", n)
	}
}

// Concurrent edits: the second writer with the version it read gets 412
// and changes nothing; contacts likewise by their ETag.
func TestConcurrentEditsAreRefusedWithPreconditionFailed(t *testing.T) {
	e := newEnv(t)
	l := e.createList(t, `{"name":"Suppliers"}`)
	tag := `"` + itoa(l.Version) + `"`
	if status, b, _ := e.doH(t, "alice", "PATCH", "/api/v1/lists/"+l.ID, `{"description":"first"}`, "If-Match", tag); status != 200 {
		t.Fatalf("first edit: %d %s", status, b)
	}
	if status, b, _ := e.doH(t, "alice", "PATCH", "/api/v1/lists/"+l.ID, `{"description":"second"}`, "If-Match", tag); status != 412 {
		t.Fatalf("second edit with the same version: %d %s", status, b)
	}
	if status, _, _ := e.doH(t, "alice", "POST", "/api/v1/lists/"+l.ID+"/import", outlookCSV, "If-Match", tag); status != 412 {
		t.Errorf("an import against a stale version: %d", status)
	}
	if status, _, _ := e.doH(t, "alice", "POST", "/api/v1/lists/"+l.ID+"/import?dry_run=true", outlookCSV, "If-Match", tag); status != 412 {
		t.Errorf("a dry run against a stale version: %d", status)
	}
	if status, _, _ := e.doH(t, "alice", "DELETE", "/api/v1/lists/"+l.ID, "", "If-Match", tag); status != 412 {
		t.Errorf("a delete against a stale version: %d", status)
	}
	status, b, h := e.doH(t, "alice", "POST", "/api/v1/lists/"+l.ID+"/contacts", `{"fn":"Acme","emails":["a@acme.example"]}`)
	if status != 201 {
		t.Fatalf("%d %s", status, b)
	}
	var c ContactView
	json.Unmarshal([]byte(b), &c)
	etag := h.Get("ETag")
	if c.ListVersion != l.Version+2 {
		t.Errorf("the new contact's answer gives list version %d, want %d", c.ListVersion, l.Version+2)
	}
	if status, b, _ := e.doH(t, "alice", "POST", "/api/v1/lists/"+l.ID+"/contacts", `{"vcard":"BEGIN:VCARD\r\nVERSION:4.0\r\nUID:`+c.UID+`\r\nFN:Same UID\r\nEND:VCARD\r\n"}`); status != 409 || !strings.Contains(b, `"field":"vcard"`) {
		t.Errorf("a second contact with the same UID: %d %s", status, b)
	}
	for _, bad := range []string{"not-quoted", `half-quoted"`, `"`} {
		if status, _, _ := e.doH(t, "alice", "PUT", "/api/v1/lists/"+l.ID+"/contacts/"+c.ID, `{"fn":"X","emails":["a@acme.example"]}`, "If-Match", bad); status != 400 {
			t.Errorf("a malformed contact If-Match %s: %d", bad, status)
		}
	}
	if status, b, _ := e.doH(t, "alice", "PUT", "/api/v1/lists/"+l.ID+"/contacts/"+c.ID, `{"fn":"Acme 2","emails":["a@acme.example"]}`, "If-Match", etag); status != 200 {
		t.Fatalf("%d %s", status, b)
	}
	if status, _, _ := e.doH(t, "alice", "PUT", "/api/v1/lists/"+l.ID+"/contacts/"+c.ID, `{"fn":"Acme 3","emails":["a@acme.example"]}`, "If-Match", etag); status != 412 {
		t.Errorf("a stale contact PUT: %d", status)
	}
	if status, _, _ := e.doH(t, "alice", "DELETE", "/api/v1/lists/"+l.ID+"/contacts/"+c.ID, "", "If-Match", etag); status != 412 {
		t.Errorf("a stale contact DELETE: %d", status)
	}
	got, _ := e.st.Contact(l.ID, c.ID)
	if !strings.Contains(string(got.Card), "Acme 2") {
		t.Errorf("the refused writes changed the contact: %s", got.Card)
	}
}

// An import plans first (nothing changes), applies all or nothing, and a
// second import of the same file changes nothing; each change is in the
// audit log with its counts.
func TestImportsPlanApplyAndAreAudited(t *testing.T) {
	e := newEnv(t)
	l := e.createList(t, `{"name":"Suppliers","state":"enabled","audience":{"everyone":true}}`)
	path := "/api/v1/lists/" + l.ID + "/import"
	var rep ImportReport
	status, b := e.do(t, "alice", "POST", path+"?dry_run=true", outlookCSV)
	json.Unmarshal([]byte(b), &rep)
	if status != 200 || rep.Created != 2 || rep.Skipped != 1 || len(e.st.Index().ListCards(l.ID)) != 0 {
		t.Fatalf("dry run: %d %s", status, b)
	}
	if rep.Items[2].Line != 4 || !strings.Contains(rep.Items[2].Reason, "line 2") {
		t.Errorf("the duplicate row: %+v", rep.Items[2])
	}
	status, b = e.do(t, "alice", "POST", path, outlookCSV)
	if status != 200 || len(e.st.Index().ListCards(l.ID)) != 2 {
		t.Fatalf("apply: %d %s", status, b)
	}
	status, b = e.do(t, "alice", "POST", path, strings.Replace(outlookCSV, "+1 555 0102", "+1 555 0199", 1))
	rep = ImportReport{}
	json.Unmarshal([]byte(b), &rep)
	if status != 200 || rep.Created != 0 || rep.Updated != 1 || rep.Unchanged != 1 || len(e.st.Index().ListCards(l.ID)) != 2 {
		t.Fatalf("re-import: %d %s", status, b)
	}
	var log []store.AuditEntry
	_, b = e.do(t, "alice", "GET", "/api/v1/audit", "")
	json.Unmarshal([]byte(b), &log)
	if len(log) != 3 || log[0].Action != "import" || log[0].Before != 2 || log[0].After != 2 || log[1].Before != 0 || log[1].After != 2 || log[2].Action != "create list" || log[2].Who != "alice" {
		t.Errorf("audit log: %+v", log)
	}
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
