package carddav

import (
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orgdav/orgdav/auth"
	"github.com/orgdav/orgdav/directory"
	"github.com/orgdav/orgdav/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// env is a running server over a store holding the demo directory.
type env struct {
	t     testing.TB
	st    *store.Store
	rules *directory.Rules
	srv   *httptest.Server
	snap  directory.Snapshot
}

func newEnv(t testing.TB, people int) *env {
	t.Helper()
	rules, err := directory.NewRules(nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(t.TempDir(), "orgdav.db"), store.Options{Fingerprint: RenderFingerprint(rules)})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, rules: rules, snap: directory.Demo(people)}
	e.apply()
	reg := prometheus.NewRegistry()
	s := New(st, rules, auth.DemoAuth{Store: st, Password: directory.DemoPassword}, Options{Registry: reg})
	e.srv = httptest.NewServer(Routes(s, st, reg))
	t.Cleanup(func() { e.srv.Close(); st.Close() })
	return e
}

// apply publishes e.snap, as a directory run would.
func (e *env) apply() store.ApplyResult {
	e.t.Helper()
	pub, err := directory.Normalize(e.snap)
	if err != nil {
		e.t.Fatal(err)
	}
	res, err := e.st.Apply(pub)
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

// personIndex finds a demo person by username.
func (e *env) person(username string) *directory.Person {
	for i := range e.snap.People {
		if e.snap.People[i].Username == username {
			return &e.snap.People[i]
		}
	}
	e.t.Fatalf("no demo person %q", username)
	return nil
}

type reply struct {
	code   int
	header http.Header
	body   string
}

func (e *env) do(method, path, user string, body string, headers ...string) reply {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, directory.DemoPassword)
	}
	if body != "" {
		ctype := "application/xml; charset=utf-8"
		if method == http.MethodPut {
			ctype = "text/vcard; charset=utf-8"
		}
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return reply{code: resp.StatusCode, header: resp.Header, body: string(b)}
}

// multistatus is a parsed 207 body, for assertions.
type multistatus struct {
	Responses []response `xml:"DAV: response"`
	SyncToken string     `xml:"DAV: sync-token"`
}

type response struct {
	Href      string     `xml:"DAV: href"`
	Status    string     `xml:"DAV: status"`
	Propstats []propstat `xml:"DAV: propstat"`
	Raw       string     `xml:",innerxml"`
}

type propstat struct {
	Prop   propT  `xml:"DAV: prop"`
	Status string `xml:"DAV: status"`
}

type propT struct {
	Props []anyProp `xml:",any"`
}

type anyProp struct {
	XMLName xml.Name
	Inner   string `xml:",innerxml"`
	Text    string `xml:",chardata"`
}

func parseMS(t testing.TB, body string) multistatus {
	t.Helper()
	var m multistatus
	if err := xml.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("207 body does not parse: %v\n%s", err, body)
	}
	return m
}

// prop returns a property of the 200 propstat.
func (r response) prop(space, local string) (anyProp, bool) {
	for _, ps := range r.Propstats {
		if ps.Status != status200 {
			continue
		}
		for _, p := range ps.Prop.Props {
			if p.XMLName.Space == space && p.XMLName.Local == local {
				return p, true
			}
		}
	}
	return anyProp{}, false
}

func (r response) etag() string {
	p, _ := r.prop(nsDAV, "getetag")
	return p.Text
}

func (r response) data() string {
	p, _ := r.prop(nsCard, "address-data")
	return p.Text
}

func syncBody(token string, withData bool) string {
	data := ""
	if withData {
		data = `<C:address-data/>`
	}
	return `<?xml version="1.0"?><D:sync-collection xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">` +
		`<D:sync-token>` + token + `</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/>` + data + `</D:prop></D:sync-collection>`
}

// sync runs a sync-collection and returns changed hrefs, deleted hrefs and the new token.
func (e *env) sync(user, token string) (changed map[string]string, deleted []string, next string) {
	e.t.Helper()
	r := e.do("REPORT", bookPath(user, bookCompany), user, syncBody(token, false))
	if r.code != http.StatusMultiStatus {
		e.t.Fatalf("sync-collection: %d %s", r.code, r.body)
	}
	m := parseMS(e.t, r.body)
	changed = map[string]string{}
	for _, resp := range m.Responses {
		if strings.Contains(resp.Status, "404") {
			deleted = append(deleted, resp.Href)
			continue
		}
		changed[resp.Href] = resp.etag()
	}
	return changed, deleted, m.SyncToken
}

// Routes mounts the DAV server with /metrics and /healthz, as the binary
// does for a loopback client.
func Routes(s *Server, st *store.Store, reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := st.Ping(); err != nil {
			http.Error(w, "store: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	mux.Handle("/", s)
	return mux
}
