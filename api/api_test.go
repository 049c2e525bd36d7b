package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orgdav/orgdav/auth"
	"github.com/orgdav/orgdav/directory"
	"github.com/orgdav/orgdav/runner"
	"github.com/orgdav/orgdav/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// source is a directory of 40 demo people.
type source struct{}

func (source) Name() string { return "corp" }
func (source) Snapshot(context.Context) (directory.Snapshot, error) {
	s := directory.Demo(directory.MinDemoPeople)
	s.Source = "corp"
	return s, nil
}

type env struct {
	st   *store.Store
	api  *API
	http *httptest.Server // the server's listener: logins and the admin role
	reg  *prometheus.Registry
}

// newEnv serves the API over 40 imported demo people, alice the one admin.
func newEnv(t testing.TB) *env {
	st, err := store.Open(filepath.Join(t.TempDir(), "db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := runner.New(st, []runner.Spec{{Source: source{}, MaxRemovalShare: 0.1}}, slog.New(slog.DiscardHandler), nil)
	if _, err := r.Run(context.Background(), "corp", runner.TriggerStartup, false); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	a := New(Options{Runs: r, Store: st, Registry: reg,
		Gate:   &auth.Gate{Auth: auth.DemoAuth{Store: st, Password: directory.DemoPassword}, Throttle: auth.NewThrottle()},
		Admins: &auth.Admins{Users: []string{"alice"}, Store: st}})
	srv := httptest.NewServer(a.HTTP())
	t.Cleanup(srv.Close)
	return &env{st: st, api: a, http: srv, reg: reg}
}

// do sends a request as user (none when ""), returns status and body.
func (e *env) do(t *testing.T, user, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, e.http.URL+path, strings.NewReader(body))
	if user != "" {
		req.SetBasicAuth(user, directory.DemoPassword)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRunsRoutesAnswerJSONAndNameTheFieldAtFault(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name, method, path string
		status             int
		body               string // a part of the body
	}{
		{"run one source", "POST", "/api/v1/sync?source=corp", 200, `"result":"unchanged"`},
		{"run all", "POST", "/api/v1/sync", 200, `"source":"corp"`},
		{"confirm", "POST", "/api/v1/sync?source=corp&confirm=true", 200, `"source":"corp"`},
		{"an unknown source", "POST", "/api/v1/sync?source=nope", 404, `"field":"source"`},
		{"a bad confirm", "POST", "/api/v1/sync?confirm=maybe", 400, `"field":"confirm"`},
		{"recent runs", "GET", "/api/v1/runs?n=2", 200, `"trigger":"manual"`},
		{"runs of one source", "GET", "/api/v1/runs?source=corp", 200, `"source":"corp"`},
		{"a bad n", "GET", "/api/v1/runs?n=0", 400, `"field":"n"`},
		{"runs of a source without any", "GET", "/api/v1/runs?source=other", 200, `[]`},
		{"an unknown route", "GET", "/api/v1/nothing", 404, `"error":"no such API route`},
		{"the wrong method", "GET", "/api/v1/sync", 405, `"error":"GET is not allowed here; use POST"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, b := e.do(t, "alice", c.method, c.path, "")
			if status != c.status || !strings.Contains(b, c.body) {
				t.Fatalf("%d %s", status, b)
			}
			if !json.Valid([]byte(b)) {
				t.Fatalf("not JSON: %s", b)
			}
		})
	}
}

// Every route refuses a request without a login (401) and a login
// without the admin role (403), and gives such a caller nothing.
func TestEveryRouteNeedsTheAdminRole(t *testing.T) {
	e := newEnv(t)
	routes := []struct{ method, path string }{
		{"POST", "/api/v1/sync?source=corp"},
		{"GET", "/api/v1/runs"},
		{"GET", "/api/v1/audit"},
		{"GET", "/api/v1/nothing"},
	}
	for _, rt := range routes {
		for _, who := range []struct {
			user   string
			status int
		}{{"", 401}, {"bob", 403}, {"nobody-at-all", 401}} {
			status, body := e.do(t, who.user, rt.method, rt.path, "")
			if status != who.status || strings.Contains(body, "corp") || !json.Valid([]byte(body)) {
				t.Errorf("%s %s as %q: %d %s", rt.method, rt.path, who.user, status, body)
			}
		}
	}
	if runs, _ := e.st.Runs("corp", 10); len(runs) != 1 {
		t.Errorf("refused requests ran sources: %d runs", len(runs))
	}
}

// The audit log names who did what, before and after: an admin on the
// listener by login name, the CLI on the socket as "local".
func TestChangesAreAuditedWithWhoAndCounts(t *testing.T) {
	e := newEnv(t)
	if status, b := e.do(t, "alice", "POST", "/api/v1/sync?source=corp", ""); status != 200 {
		t.Fatalf("%d %s", status, b)
	}
	sock := httptest.NewServer(e.api.Local())
	defer sock.Close()
	resp, err := http.Post(sock.URL+"/api/v1/sync?source=corp&confirm=true", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	status, body := e.do(t, "alice", "GET", "/api/v1/audit?n=10", "")
	var log []store.AuditEntry
	if status != 200 || json.Unmarshal([]byte(body), &log) != nil {
		t.Fatalf("%d %s", status, body)
	}
	if len(log) != 2 {
		t.Fatalf("want 2 entries, got %+v", log)
	}
	want := []struct{ who, action string }{{WhoLocal, "confirm"}, {"alice", "sync"}}
	for i, w := range want {
		got := log[i]
		if got.Who != w.who || got.Action != w.action || got.Target != "source corp" || got.Before != 40 || got.After != 40 || got.Time.IsZero() {
			t.Errorf("entry %d: %+v, want %s by %s", i, got, w.action, w.who)
		}
	}
}

// A user named an admin in the config stays one after a rename: the role
// is remembered by the account's stable id.
func TestTheAdminRoleFollowsARenamedAdmin(t *testing.T) {
	e := newEnv(t)
	alice, _ := e.st.Index().User("alice")
	admins := &auth.Admins{Users: []string{"alice"}, Store: e.st}
	if !admins.Is(alice) {
		t.Fatal("alice is not an admin")
	}
	renamed := *alice
	renamed.Username = "alice.smith"
	if !admins.Is(&renamed) {
		t.Error("renamed alice lost the admin role")
	}
	bob, _ := e.st.Index().User("bob")
	if admins.Is(bob) {
		t.Error("bob is an admin")
	}
}

func TestAPIRequestsAreCountedByRouteAndStatus(t *testing.T) {
	e := newEnv(t)
	e.do(t, "alice", "GET", "/api/v1/runs", "")
	e.do(t, "alice", "GET", "/api/v1/runs?n=x", "")
	e.do(t, "bob", "GET", "/api/v1/runs", "")
	for _, c := range []struct {
		route, code string
	}{{"GET /api/v1/runs", "200"}, {"GET /api/v1/runs", "400"}, {"login", "403"}} {
		if n := testutil.ToFloat64(e.api.requests.WithLabelValues(c.route, c.code)); n != 1 {
			t.Errorf("%s %s counted %v times", c.route, c.code, n)
		}
	}
}

func TestTheCLIClientTalksOverTheSocket(t *testing.T) {
	e := newEnv(t)
	sock := filepath.Join(t.TempDir(), "orgdav.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: e.api.Local()}
	go srv.Serve(ln)
	defer srv.Close()
	if Dial(filepath.Join(t.TempDir(), "none.sock")) != nil {
		t.Fatal("a client for a socket nobody listens on")
	}
	c := Dial(sock)
	if runs, err := c.Sync("corp", false); err != nil || len(runs) != 1 || runs[0].Result != store.RunUnchanged {
		t.Fatalf("sync: %+v %v", runs, err)
	}
	if runs, err := c.Runs("", 5); err != nil || len(runs) != 2 {
		t.Fatalf("runs: %+v %v", runs, err)
	}
	if _, err := c.Sync("nope", false); err == nil || !strings.Contains(err.Error(), "source: unknown source") {
		t.Fatalf("an unknown source: %v", err)
	}
	if log, err := c.Audit(5); err != nil || len(log) != 1 || log[0].Who != WhoLocal {
		t.Fatalf("audit: %+v %v", log, err)
	}
}
