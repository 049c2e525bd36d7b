package integration

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orgdav/orgdav/directory"
)

// vdirsyncer is a real CardDAV client run against a server from its bare URL.
type vdirsyncer struct {
	t   *testing.T
	bin string
	cfg string
	dir string
}

func newVdirsyncer(t *testing.T, url, user string) *vdirsyncer {
	bin := need(t, "vdirsyncer", "vdirsyncer")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	conf := fmt.Sprintf(`[general]
status_path = "%[1]s/status/"

[pair contacts]
a = "local"
b = "remote"
collections = ["from b"]
conflict_resolution = "b wins"

[storage local]
type = "filesystem"
path = "%[1]s/contacts/"
fileext = ".vcf"

[storage remote]
type = "carddav"
url = "%[2]s"
username = "%[3]s"
password = "demo"
`, dir, url, user)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return &vdirsyncer{t: t, bin: bin, cfg: cfg, dir: dir}
}

func (v *vdirsyncer) run(args ...string) {
	v.t.Helper()
	if out, ok := v.tryRun(args...); !ok {
		v.t.Fatalf("vdirsyncer %v failed or reported errors:\n%s", args, out)
	}
}

// tryRun runs vdirsyncer and returns its output and whether it ran
// without reporting errors.
func (v *vdirsyncer) tryRun(args ...string) (string, bool) {
	v.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, v.bin, append([]string{"-c", v.cfg}, args...)...)
	cmd.Stdin = strings.NewReader(strings.Repeat("y\n", 10))
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "LANG=C.UTF-8")
	out, err := cmd.CombinedOutput()
	return string(out), err == nil && !strings.Contains(string(out), "error:")
}

// cards reads the synced collection: UID -> file content. Two files with
// one UID fail the test: that is a duplicate contact on a phone.
func (v *vdirsyncer) cards(collection string) map[string]string {
	v.t.Helper()
	files, err := filepath.Glob(filepath.Join(v.dir, "contacts", collection, "*.vcf"))
	if err != nil {
		v.t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			v.t.Fatal(err)
		}
		s := strings.ReplaceAll(string(b), "\r\n ", "")
		uid := ""
		for _, l := range strings.Split(s, "\r\n") {
			if u, ok := strings.CutPrefix(l, "UID:"); ok {
				uid = u
			}
		}
		if uid == "" {
			v.t.Fatalf("%s has no UID", f)
		}
		if _, dup := out[uid]; dup {
			v.t.Fatalf("UID %s appears twice in %s", uid, collection)
		}
		out[uid] = s
	}
	return out
}

func TestVdirsyncerSyncsFromBareURLAndFollowsDirectoryChanges(t *testing.T) {
	ls := startLive(t, 300)
	v := newVdirsyncer(t, ls.url, "alice")
	v.run("discover", "contacts")
	v.run("sync")

	ix := ls.st.Index()
	cards := v.cards("company")
	if len(cards) != len(ix.Items) {
		t.Fatalf("first sync: %d cards, server has %d", len(cards), len(ix.Items))
	}
	if _, err := os.Stat(filepath.Join(v.dir, "contacts", "personal")); err != nil {
		t.Fatalf("personal book not discovered: %v", err)
	}
	uid := func(username string) string {
		return directory.CardUID(directory.PersonKey(directory.DemoSource, ls.person(username).ID))
	}
	carol, dave, erin := uid("carol"), uid("dave"), uid("erin")

	ls.person("carol").DisplayName = "Carol Schmidt-Weber"
	ls.person("erin").Department = "Sales"
	ls.person("dave").Hidden = true
	ls.snap.People = append(ls.snap.People, directory.Person{ID: "vds-new", Username: "newbie", GivenName: "Nova", FamilyName: "Neu", Department: "Finance"})
	ls.apply()
	v.run("sync")

	after := v.cards("company")
	if len(after) != len(ls.st.Index().Items) {
		t.Fatalf("after changes: %d cards, server has %d", len(after), len(ls.st.Index().Items))
	}
	if !strings.Contains(after[carol], "FN:Carol Schmidt-Weber") {
		t.Errorf("rename not synced: %s", after[carol])
	}
	if !strings.Contains(after[erin], ";Sales") {
		t.Errorf("department move not synced: %s", after[erin])
	}
	if _, ok := after[dave]; ok {
		t.Errorf("hidden person still on the client")
	}
	if _, ok := after[directory.CardUID(directory.PersonKey(directory.DemoSource, "vds-new"))]; !ok {
		t.Errorf("new person not synced")
	}
	if len(after) != len(cards) {
		t.Errorf("one hidden and one added should keep the count: %d -> %d", len(cards), len(after))
	}
}

func TestBinaryServesDemoFromBareURLAndStopsGracefully(t *testing.T) {
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "data")
	url, logs, stop := runBinary(t, bin, "--data", data)
	at, _ := metricsURLs.Load(url)
	for _, u := range []string{url + "healthz", at.(string)} {
		resp, err := http.Get(u)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %v %v", u, resp, err)
		}
		resp.Body.Close()
	}
	// A second server on the same data refuses to start, saying why.
	out, err := exec.Command(bin, "serve", "--listen", "127.0.0.1:0", "--data", data).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "locked by another orgdav process") {
		t.Fatalf("second server on the same data: %v\n%s", err, out)
	}
	v := newVdirsyncer(t, url, "alice")
	v.run("discover", "contacts")
	v.run("sync")
	first := v.cards("company")
	if len(first) < 300 {
		t.Fatalf("demo company book synced %d cards", len(first))
	}
	if err := stop(); err != nil {
		t.Fatalf("orgdav did not stop cleanly: %v\n%s", err, logs)
	}
	for _, want := range []string{"user=alice password=demo", "shutting down", "stopped"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	// A restart on the same data keeps every ETag: nothing is re-sent.
	url, logs2, stop2 := runBinary(t, bin, "--data", data)
	v2 := newVdirsyncer(t, url, "alice")
	v2.run("discover", "contacts")
	v2.run("sync")
	if len(v2.cards("company")) != len(first) {
		t.Fatalf("restart changed the book size")
	}
	stop2()
	if !strings.Contains(logs2.String(), "added=0 updated=0 removed=0") {
		t.Errorf("restart re-applied changes:\n%s", logs2)
	}
}
