package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// readmeSection returns the README's text from a "## title" heading to the
// next one.
func readmeSection(t *testing.T, title string) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n## "+title+"\n")
	if !ok {
		t.Fatalf("README.md has no section %q", title)
	}
	if i := strings.Index(rest, "\n## "); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// readmeCurls returns the curl command lines of a README section's sh
// blocks, in order, with their comments.
func readmeCurls(t *testing.T, section string) []string {
	var out []string
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(section, -1) {
		for _, l := range strings.Split(m[1], "\n") {
			if strings.HasPrefix(l, "curl ") {
				out = append(out, l)
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("the section has no curl examples")
	}
	return out
}

// TestAdminAPIAsTheREADMEShows runs the README's admin API examples, in
// order, against the real binary serving the demo: each answers JSON that
// is not an error; the same calls without the admin role get nothing; the
// CLI shows the audit log through the socket.
func TestAdminAPIAsTheREADMEShows(t *testing.T) {
	need(t, "curl", "curl")
	bin := buildBinary(t)
	data := t.TempDir()
	url, _, _ := runBinary(t, bin, "--data", data, "--demo-people", "60")
	base := strings.TrimSuffix(url, "/")
	work := t.TempDir()
	for _, line := range readmeCurls(t, readmeSection(t, "Admin API")) {
		run := func(l string) (string, error) {
			cmd := exec.Command("bash", "-c", l)
			cmd.Dir = work
			cmd.Env = append(os.Environ(), "ORGDAV="+base)
			out, err := cmd.Output()
			return string(out), err
		}
		out, err := run(line)
		var e struct{ Error string }
		if err != nil || !json.Valid([]byte(out)) || json.Unmarshal([]byte(out), &e) == nil && e.Error != "" {
			t.Fatalf("%s\n=> %v %s", line, err, out)
		}
		for _, other := range []string{"bob:demo", "nobody:x"} {
			denied, _ := run(strings.Replace(line, "alice:demo", other, 1))
			if !strings.Contains(denied, `"error"`) || strings.Contains(denied, `"source"`) {
				t.Errorf("as %s: %s\n=> %s", other, line, denied)
			}
		}
	}
	out, code := orgdav(t, bin, "audit", "--data", data)
	if code != 0 || !regexp.MustCompile(`(?m)alice\s+sync\s+source demo\s+(\d+)\s+(\d+)\s+unchanged`).MatchString(out) {
		t.Fatalf("orgdav audit: %d\n%s", code, out)
	}
}
