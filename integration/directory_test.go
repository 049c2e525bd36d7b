package integration

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/orgdav/orgdav/directory"
)

type davClient struct {
	t    *testing.T
	base string
}

func (d davClient) do(method, path, user, pass, body string, headers ...string) (int, string) {
	d.t.Helper()
	req, _ := http.NewRequest(method, d.base+strings.TrimPrefix(path, "/"), strings.NewReader(body))
	req.SetBasicAuth(user, pass)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

type syncReply struct {
	Responses []struct {
		Href   string `xml:"href"`
		Status string `xml:"status"`
	} `xml:"response"`
	Token string `xml:"sync-token"`
}

// syncBook runs sync-collection on the company book; it returns changed
// and deleted card UIDs and the next token.
func (d davClient) syncBook(user, pass, token string) (changed, deleted map[string]bool, next string) {
	d.t.Helper()
	body := `<D:sync-collection xmlns:D="DAV:"><D:sync-token>` + token + `</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>`
	code, out := d.do("REPORT", "/dav/books/"+user+"/company/", user, pass, body)
	if code != http.StatusMultiStatus {
		d.t.Fatalf("sync-collection: %d %s", code, out)
	}
	var r syncReply
	if err := xml.Unmarshal([]byte(out), &r); err != nil {
		d.t.Fatal(err)
	}
	changed, deleted = map[string]bool{}, map[string]bool{}
	for _, resp := range r.Responses {
		uid := strings.TrimSuffix(filepath.Base(resp.Href), ".vcf")
		if strings.Contains(resp.Status, "404") {
			deleted[uid] = true
		} else {
			changed[uid] = true
		}
	}
	return changed, deleted, r.Token
}

// waitFor polls until cond holds, bounded in time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func cardUID(s *slapd, uid string) string {
	c := s.admin()
	res, err := c.Search(ldap.NewSearchRequest("ou=people,"+suffix, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(uid="+ldap.EscapeFilter(uid)+")", []string{"entryUUID"}, nil))
	if err != nil || len(res.Entries) != 1 {
		s.t.Fatalf("entryUUID of %s: %v", uid, err)
	}
	return directory.CardUID(directory.PersonKey("corp", res.Entries[0].GetAttributeValue("entryUUID")))
}

// writeSourceConfig writes a config for s; incremental, when set, is
// schedule.incremental. Everything else, auth included, has its defaults.
func writeSourceConfig(t *testing.T, dir string, s *slapd, incremental string) string {
	pw := filepath.Join(dir, "bind-password")
	os.WriteFile(pw, []byte(servicePass+"\n"), 0o600)
	cfg := fmt.Sprintf(`sources:
  - name: corp
    kind: ldap
    url: %s
    bind_dn: %s
    bind_password_file: %s
    page_size: 50
    login_attributes: [uid, mail]
    people:
      base_dns: ["ou=people,%s"]
      exclude_ous: ["ou=service,ou=people,%s"]
      hidden_filter: (employeeType=hidden)
      disabled_filter: (employeeType=disabled)
    groups:
      base_dns: ["ou=groups,%s"]
    schedule:
      interval: 1h
`, s.url, serviceDN, pw, suffix, suffix, suffix)
	if incremental != "" {
		cfg = strings.Replace(cfg, "      interval: 1h\n", "      interval: 1h\n      incremental: "+incremental+"\n", 1)
	}
	path := filepath.Join(dir, "orgdav.yaml")
	os.WriteFile(path, []byte(cfg), 0o600)
	return path
}

// orgdav runs an orgdav command and returns its output and exit code.
func orgdav(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	return runCommand(t, exec.Command(bin, args...))
}

func runCommand(t *testing.T, cmd *exec.Cmd) (string, int) {
	t.Helper()
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

func TestDirectoryFromSlapdEndToEnd(t *testing.T) {
	ldif, people := generateOrg(300)
	srv := startSlapd(t, ldif)
	bin := buildBinary(t)
	dir := t.TempDir()
	cfg := writeSourceConfig(t, dir, srv, "")
	data := filepath.Join(dir, "data")

	out, code := orgdav(t, bin, "check", "--config", cfg)
	if code != 0 || !strings.Contains(out, "would be published") || !strings.Contains(out, "left out") {
		t.Fatalf("check: %d\n%s", code, out)
	}

	url, logs, stop := runBinary(t, bin, "--config", cfg, "--data", data)
	defer stop()
	dav := davClient{t: t, base: url}
	viewer, vpass := people[9].uid, "pw-"+people[9].uid
	waitFor(t, "the first directory run", func() bool {
		code, _ := dav.do("PROPFIND", "/", viewer, vpass, "", "Depth", "0")
		return code == http.StatusMultiStatus
	})

	var disabled, hidden string
	for _, p := range people {
		if p.kind == "disabled" && disabled == "" {
			disabled = p.uid
		}
		if p.kind == "hidden" && hidden == "" {
			hidden = p.uid
		}
	}
	logins := []struct {
		user, pass string
		want       int
	}{
		{viewer, vpass, http.StatusMultiStatus},
		{people[9].mails[0], vpass, http.StatusMultiStatus},
		{people[11].uid, "wrong", http.StatusUnauthorized},
		{disabled, "pw-" + disabled, http.StatusUnauthorized},
		{hidden, "pw-" + hidden, http.StatusMultiStatus}, // in no book, but may log in
		{"nobody", "pw-nobody", http.StatusUnauthorized},
		{"*", vpass, http.StatusUnauthorized},
		{"user0001*", "pw-user00012", http.StatusUnauthorized},
		{viewer + ")(uid=*", vpass, http.StatusUnauthorized},
		{"backup-bot", "pw-backup-bot", http.StatusUnauthorized},
	}
	for _, l := range logins {
		if code, body := dav.do("PROPFIND", "/", l.user, l.pass, "", "Depth", "0"); code != l.want {
			t.Errorf("login %q: %d, want %d: %.200s", l.user, code, l.want, body)
		}
	}

	// A hidden person sees the book and is not in it.
	if changed, _, _ := dav.syncBook(hidden, "pw-"+hidden, ""); len(changed) < 250 {
		t.Errorf("hidden person sees %d cards", len(changed))
	}
	if code, body := dav.do("REPORT", "/dav/books/"+hidden+"/company/", hidden, "pw-"+hidden,
		`<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/></D:prop><C:filter><C:prop-filter name="UID"><C:text-match match-type="equals">`+cardUID(srv, hidden)+`</C:text-match></C:prop-filter></C:filter></C:addressbook-query>`); code != http.StatusMultiStatus || strings.Contains(body, "<D:response>") {
		t.Errorf("hidden person's own card is in the book: %d %s", code, body)
	}
	// With default settings (incremental runs every 30s) a change in LDAP
	// reaches phones within a minute.
	_, _, token := dav.syncBook(viewer, vpass, "")
	mod0 := ldap.NewModifyRequest(dnOf(people[30]), nil)
	mod0.Replace("displayName", []string{"Latency Probe"})
	if err := srv.admin().Modify(mod0); err != nil {
		t.Fatal(err)
	}
	probe := cardUID(srv, people[30].uid)
	changedAt := time.Now()
	for {
		changed, _, next := dav.syncBook(viewer, vpass, token)
		if changed[probe] {
			token = next
			break
		}
		if time.Since(changedAt) > 60*time.Second {
			t.Fatal("a change in LDAP did not reach the book within 60s")
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("LDAP change to sync-collection with default settings: %v", time.Since(changedAt).Round(100*time.Millisecond))
	before := map[string]string{}
	for _, i := range []int{20, 21, 22, 23} {
		before[people[i].uid] = cardUID(srv, people[i].uid)
	}
	c := srv.admin()
	mod := ldap.NewModifyRequest(dnOf(people[20]), nil)
	mod.Replace("displayName", []string{"Renamed Person"})
	must(t, c.Modify(mod))
	must(t, c.ModifyDN(ldap.NewModifyDNRequest(dnOf(people[21]), "uid="+people[21].uid+"-renamed", true, "")))
	moved := people[22]
	moved.dept = orgDepartments[(22+1)%len(orgDepartments)]
	must(t, c.ModifyDN(ldap.NewModifyDNRequest(dnOf(people[22]), "uid="+people[22].uid, true, "ou="+ldap.EscapeDN(moved.dept)+",ou=people,"+suffix)))
	mod = ldap.NewModifyRequest(dnOf(moved), nil)
	mod.Replace("ou", []string{moved.dept})
	mod.Replace("departmentNumber", []string{departmentCode(moved.dept)})
	must(t, c.Modify(mod))
	must(t, c.Del(ldap.NewDelRequest(dnOf(people[23]), nil)))
	add := ldap.NewAddRequest("uid=new-hire,ou=Finance,ou=people,"+suffix, nil)
	add.Attribute("objectClass", []string{"inetOrgPerson"})
	add.Attribute("uid", []string{"new-hire"})
	add.Attribute("cn", []string{"New Hire"})
	add.Attribute("sn", []string{"Hire"})
	add.Attribute("ou", []string{"Finance"})
	add.Attribute("departmentNumber", []string{departmentCode("Finance")})
	must(t, c.Add(add))
	newUID := cardUID(srv, "new-hire")

	// An incremental run may have applied them already.
	if out, code := orgdav(t, bin, "sync", "--config", cfg, "--data", data, "corp"); code != 0 || !(strings.Contains(out, "applied") || strings.Contains(out, "unchanged")) {
		t.Fatalf("orgdav sync: %d\n%s", code, out)
	}
	changed, deleted, token2 := dav.syncBook(viewer, vpass, token)
	personChanged := map[string]bool{}
	for _, p := range people {
		if u := before[p.uid]; u != "" && changed[u] {
			personChanged[u] = true
		}
	}
	for _, u := range []string{before[people[20].uid], before[people[21].uid], before[people[22].uid], newUID} {
		if !changed[u] {
			t.Errorf("change to %s not reported", u)
		}
	}
	if len(deleted) != 1 || !deleted[before[people[23].uid]] {
		t.Errorf("deleted: %v, want only %s", deleted, before[people[23].uid])
	}
	t.Logf("delta after 5 LDAP changes: %d changed, %d deleted", len(changed), len(deleted))
	// Only the changed people and the department groups they touch.
	if len(changed) > 4+3 {
		t.Errorf("delta reports %d cards for 4 changed people", len(changed))
	}

	// Mass deletion: held, then applied on confirmation.
	removed := 0
	for i := 100; i < 160; i++ {
		if people[i].kind == "" {
			must(t, c.Del(ldap.NewDelRequest(dnOf(people[i]), nil)))
			removed++
		}
	}
	out, code = orgdav(t, bin, "sync", "--config", cfg, "--data", data, "corp")
	if code == 0 || !strings.Contains(out, "held") || !strings.Contains(out, "max_removal_share") {
		t.Fatalf("mass deletion not held: %d\n%s", code, out)
	}
	if changed, deleted, _ := dav.syncBook(viewer, vpass, token2); len(changed)+len(deleted) != 0 {
		t.Fatalf("a held run changed the book: %d changed, %d deleted", len(changed), len(deleted))
	}
	if out, code := orgdav(t, bin, "sync", "--config", cfg, "--data", data, "--confirm", "corp"); code != 0 || !strings.Contains(out, "applied") {
		t.Fatalf("confirmed sync: %d\n%s", code, out)
	}
	_, deleted, token3 := dav.syncBook(viewer, vpass, token2)
	if len(deleted) != removed {
		t.Fatalf("confirmed mass deletion removed %d cards, want %d", len(deleted), removed)
	}

	// LDAP down: the run fails and changes nothing; cached logins still
	// work; others get 503, not a password prompt.
	srv.cmd.Process.Signal(syscall.SIGTERM)
	srv.cmd.Wait()
	srv.cmd = nil
	if out, code := orgdav(t, bin, "sync", "--config", cfg, "--data", data, "corp"); code == 0 || !strings.Contains(out, "failed") {
		t.Fatalf("sync with LDAP down: %d\n%s", code, out)
	}
	if changed, deleted, _ := dav.syncBook(viewer, vpass, token3); len(changed)+len(deleted) != 0 {
		t.Fatal("a failed run changed the book")
	}
	if code, _ := dav.do("PROPFIND", "/", people[12].uid, "pw-"+people[12].uid, "", "Depth", "0"); code != http.StatusServiceUnavailable {
		t.Errorf("login with LDAP down: %d, want 503", code)
	}
	out, _ = orgdav(t, bin, "logs", "--config", cfg, "--data", data, "-n", "10")
	for _, want := range []string{"startup", "manual", "applied", "held", "failed", "confirmed by an admin"} {
		if !strings.Contains(out, want) {
			t.Errorf("orgdav logs lacks %q:\n%s", want, out)
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("stop: %v\n%s", err, logs)
	}
}

// TestBinaryPollsEditsAndSweepsDeletionsWithoutSyncprov runs serve against
// a slapd that pushes nothing: edits arrive by change marker, deletions by
// the sweep of the same incremental tick.
func TestBinaryPollsEditsAndSweepsDeletionsWithoutSyncprov(t *testing.T) {
	ldif, people := generateOrg(60)
	srv := startSlapdWithoutSyncprov(t, ldif)
	bin := buildBinary(t)
	dir := t.TempDir()
	cfg := writeSourceConfig(t, dir, srv, "5s")
	url, logs, stop := runBinary(t, bin, "--config", cfg, "--data", filepath.Join(dir, "data"))
	defer stop()
	dav := davClient{t: t, base: url}
	viewer, vpass := people[9].uid, "pw-"+people[9].uid
	waitFor(t, "the first directory run", func() bool {
		code, _ := dav.do("PROPFIND", "/", viewer, vpass, "", "Depth", "0")
		return code == http.StatusMultiStatus
	})
	_, _, token := dav.syncBook(viewer, vpass, "")
	edited, gone := cardUID(srv, people[30].uid), cardUID(srv, people[31].uid)
	c := srv.admin()
	mod := ldap.NewModifyRequest(dnOf(people[30]), nil)
	mod.Replace("title", []string{"Polled Title"})
	must(t, c.Modify(mod))
	must(t, c.Del(ldap.NewDelRequest(dnOf(people[31]), nil)))
	changedAt := time.Now()
	seen, removed := false, false
	for !(seen && removed) {
		changed, deleted, next := dav.syncBook(viewer, vpass, token)
		seen, removed, token = seen || changed[edited], removed || deleted[gone], next
		if time.Since(changedAt) > 30*time.Second {
			stop()
			t.Fatalf("after 30s with incremental: 5s: edit seen %v, deletion seen %v\n%s", seen, removed, logs)
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("edit and deletion reached the book in %v", time.Since(changedAt).Round(100*time.Millisecond))
	stop() // the logs are complete once the server has stopped
	if !strings.Contains(logs.String(), "source does not push changes") {
		t.Errorf("no log line says the source is polled:\n%s", logs)
	}
}
