package integration

import (
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBinaryCarriesPhonesThroughADirectoryOutage runs serve with the
// default auth settings against a slapd that pushes changes, behind a relay
// that counts connections (every password check binds on a connection of
// its own). A phone syncs; slapd stops; the phone keeps syncing, someone
// who never logged in is told to retry (503), each failed poll counts
// once; slapd comes back and the server says so and shows it.
func TestBinaryCarriesPhonesThroughADirectoryOutage(t *testing.T) {
	ldif, people := generateOrg(120)
	srv := startSlapd(t, ldif)
	rl := newRelay(t, srv.addr, false)
	bin := buildBinary(t)
	dir := t.TempDir()
	cfg := writeSourceConfig(t, dir, &slapd{url: "ldap://" + rl.addr}, "5s")
	data := filepath.Join(dir, "data")
	url, logs, stop := runBinary(t, bin, "--config", cfg, "--data", data)
	defer stop()
	dav := davClient{t: t, base: url}
	viewer, vpass := people[9].uid, "pw-"+people[9].uid
	waitFor(t, "the first directory run", func() bool { return metric(t, url, "orgdav_company_book_people") > 0 })
	waitForLog(t, logs, "following the changes the server pushes", 10*time.Second)

	// A phone's first sync as clients do it: discovery, the home set, the
	// book, a sync-collection. The first request looks the user up (on a
	// connection kept for look-ups) and binds as them (on one of its own);
	// the rest need the directory no more.
	before := rl.conns.Load()
	for i, r := range []struct{ method, path, depth, body string }{
		{"PROPFIND", "/.well-known/carddav", "0", ""},
		{"PROPFIND", "/dav/principals/" + viewer + "/", "0", ""},
		{"PROPFIND", "/dav/books/" + viewer + "/", "1", ""},
		{"PROPFIND", "/dav/books/" + viewer + "/company/", "0", ""},
	} {
		if code, body := dav.do(r.method, r.path, viewer, vpass, r.body, "Depth", r.depth); code != http.StatusMultiStatus {
			t.Fatalf("%s %s: %d %.200s", r.method, r.path, code, body)
		}
		if i == 0 {
			if n := rl.conns.Load() - before; n != 2 {
				t.Errorf("the first login opened %d connections to the directory, want 2 (look-up, bind)", n)
			}
			before = rl.conns.Load()
		}
	}
	_, _, token := dav.syncBook(viewer, vpass, "")
	if n := rl.conns.Load() - before; n != 0 {
		t.Errorf("the rest of a phone's first sync opened %d connections to the directory, want none (auth.login_cache defaults to 5m)", n)
	}

	srv.cmd.Process.Signal(syscall.SIGTERM)
	srv.cmd.Wait()
	srv.cmd = nil
	waitForLog(t, logs, "change stream ended; polling until it is back", 10*time.Second)
	for i := 0; i < 5; i++ {
		if changed, deleted, next := dav.syncBook(viewer, vpass, token); len(changed)+len(deleted) != 0 {
			t.Fatalf("the book changed during the outage")
		} else {
			token = next
		}
	}
	stranger := people[12].uid
	code, _ := dav.do("PROPFIND", "/", stranger, "pw-"+stranger, "", "Depth", "0")
	if code != http.StatusServiceUnavailable {
		t.Errorf("a login never verified, during the outage: %d, want 503", code)
	}
	// Two polls fail: each counts once.
	failed := func() float64 { return metric(t, url, `orgdav_directory_runs_total{result="failed",source="corp"}`) }
	waitFor(t, "two failed polls", func() bool { return failed() >= 2 })
	out, _ := orgdav(t, bin, "logs", "--config", cfg, "--data", data, "-n", "50")
	if logged := strings.Count(out, " failed "); float64(logged) != failed() {
		t.Errorf("%d failed runs in orgdav logs, %v in the metric: a failed poll counted twice?\n%s", logged, failed(), out)
	}
	lastSuccess := metric(t, url, `orgdav_directory_last_success_timestamp_seconds{source="corp"}`)

	srv.start()
	waitForLog(t, logs, "change stream resumed: changes are pushed again", 15*time.Second)
	// Nothing changed in the directory; the metric still shows it is back.
	waitFor(t, "a quiet successful poll", func() bool {
		return metric(t, url, `orgdav_directory_last_success_timestamp_seconds{source="corp"}`) > lastSuccess
	})
	if code, _ := dav.do("PROPFIND", "/", stranger, "pw-"+stranger, "", "Depth", "0"); code != http.StatusMultiStatus {
		t.Errorf("a new login after the outage: %d", code)
	}
}

// TestBinaryTellsPhonesToRetryDuringTheFirstImport holds the first
// import's connection to the directory: a right password is answered 503
// with Retry-After (the book is not built yet), never 401.
func TestBinaryTellsPhonesToRetryDuringTheFirstImport(t *testing.T) {
	ldif, people := generateOrg(60)
	srv := startSlapd(t, ldif)
	rl := newRelay(t, srv.addr, true)
	bin := buildBinary(t)
	dir := t.TempDir()
	cfg := writeSourceConfig(t, dir, &slapd{url: "ldap://" + rl.addr}, "")
	url, _, stop := runBinary(t, bin, "--config", cfg, "--data", filepath.Join(dir, "data"))
	defer stop()
	viewer, vpass := people[9].uid, "pw-"+people[9].uid
	req, _ := http.NewRequest("PROPFIND", url, nil)
	req.SetBasicAuth(viewer, vpass)
	req.Header.Set("Depth", "0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || resp.Header.Get("WWW-Authenticate") != "" {
		t.Fatalf("a right password during the first import: %d, Retry-After %q, challenge %q", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("WWW-Authenticate"))
	}
	dav := davClient{t: t, base: url}
	if code, _ := dav.do("PROPFIND", "/", viewer, "wrong", "", "Depth", "0"); code != http.StatusUnauthorized {
		t.Errorf("a wrong password during the first import: %d, want 401", code)
	}
	if metric(t, url, `orgdav_auth_failures_total{reason="not-ready"}`) != 1 {
		t.Errorf("the retry is not counted as not-ready")
	}
	rl.release()
	waitFor(t, "the first import", func() bool {
		code, _ := dav.do("PROPFIND", "/", viewer, vpass, "", "Depth", "0")
		return code == http.StatusMultiStatus
	})
}
