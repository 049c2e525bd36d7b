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

	"github.com/orgdav/orgdav/directory"
	"github.com/orgdav/orgdav/runner"
	"github.com/orgdav/orgdav/store"
)

// source is a directory of 40 demo people.
type source struct{}

func (source) Name() string { return "corp" }
func (source) Snapshot(context.Context) (directory.Snapshot, error) {
	s := directory.Demo(directory.MinDemoPeople)
	s.Source = "corp"
	return s, nil
}

func newAPI(t *testing.T) *httptest.Server {
	st, err := store.Open(filepath.Join(t.TempDir(), "db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := runner.New(st, []runner.Spec{{Source: source{}, MaxRemovalShare: 0.1}}, slog.New(slog.DiscardHandler), nil)
	mux := http.NewServeMux()
	(&API{Runs: r}).Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestRunsRoutesAnswerJSONAndNameTheFieldAtFault(t *testing.T) {
	srv := newAPI(t)
	cases := []struct {
		name, method, path string
		status             int
		body               string // a part of the body
	}{
		{"run one source", "POST", "/api/v1/sync?source=corp", 200, `"result":"applied"`},
		{"run all", "POST", "/api/v1/sync", 200, `"source":"corp"`},
		{"confirm", "POST", "/api/v1/sync?source=corp&confirm=true", 200, `"note":"confirmed by an admin"`},
		{"an unknown source", "POST", "/api/v1/sync?source=nope", 404, `"field":"source"`},
		{"a bad confirm", "POST", "/api/v1/sync?confirm=maybe", 400, `"field":"confirm"`},
		{"recent runs", "GET", "/api/v1/runs?n=2", 200, `"trigger":"manual"`},
		{"runs of one source", "GET", "/api/v1/runs?source=corp", 200, `"source":"corp"`},
		{"a bad n", "GET", "/api/v1/runs?n=0", 400, `"field":"n"`},
		{"runs of a source without any", "GET", "/api/v1/runs?source=other", 200, `[]`},
		{"the wrong method", "GET", "/api/v1/sync", 405, ``},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.status || !strings.Contains(string(b), c.body) {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			if resp.StatusCode != 405 && !json.Valid(b) {
				t.Fatalf("not JSON: %s", b)
			}
		})
	}
}

func TestTheCLIClientTalksOverTheSocket(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r := runner.New(st, []runner.Spec{{Source: source{}, MaxRemovalShare: 0.1}}, slog.New(slog.DiscardHandler), nil)
	mux := http.NewServeMux()
	(&API{Runs: r}).Mount(mux)
	sock := filepath.Join(t.TempDir(), "orgdav.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()
	if Dial(filepath.Join(t.TempDir(), "none.sock")) != nil {
		t.Fatal("a client for a socket nobody listens on")
	}
	c := Dial(sock)
	if runs, err := c.Sync("corp", false); err != nil || len(runs) != 1 || runs[0].Result != store.RunApplied {
		t.Fatalf("sync: %+v %v", runs, err)
	}
	if runs, err := c.Runs("", 5); err != nil || len(runs) != 1 {
		t.Fatalf("runs: %+v %v", runs, err)
	}
	if _, err := c.Sync("nope", false); err == nil || !strings.Contains(err.Error(), "source: unknown source") {
		t.Fatalf("an unknown source: %v", err)
	}
}
