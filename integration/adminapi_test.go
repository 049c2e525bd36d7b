package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// readmeSection returns the README's text from a "## title" heading to the
// next one.
func readmeSection(t *testing.T, title string) string {
	t.Helper()
	_, rest, ok := strings.Cut(readme(t), "\n## "+title+"\n")
	if !ok {
		t.Fatalf("README.md has no section %q", title)
	}
	if i := strings.Index(rest, "\n## "); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// readmeScript returns a section's sh blocks, joined.
func readmeScript(t *testing.T, section string) string {
	t.Helper()
	out := fencedBlocks(section, "sh")
	if len(out) == 0 {
		t.Fatal("the section has no sh block")
	}
	return strings.Join(out, "\n")
}

// TestSharedListsAndTheAdminAPIAsTheREADMEShows runs the README's shared
// list commands and admin API examples, as written, against the real binary
// serving the demo, with an Outlook export as contacts.csv: every command
// succeeds, every API answer is JSON that is not an error (or the file
// asked for), and the changes land in the store and the audit log.
func TestSharedListsAndTheAdminAPIAsTheREADMEShows(t *testing.T) {
	need(t, "curl", "curl")
	need(t, "jq", "jq")
	bin := buildBinary(t)
	data := t.TempDir()
	url, _, _ := runBinary(t, bin, "--data", data, "--demo-people", "60")
	work := t.TempDir()
	csv, err := os.ReadFile("../contactfile/testdata/outlook.csv")
	must(t, err)
	must(t, os.WriteFile(filepath.Join(work, "contacts.csv"), csv, 0o600))
	run := func(name, script string) string {
		// Each command's output is checked: a failing orgdav, a curl error
		// or an API error stops the script and names the command.
		prelude := `set -eo pipefail
orgdav() { "$BIN" "$@" --data "$DATA"; }
curl() {
  local out; out=$(command curl -sS -w '\n%{http_code}' "$@") || { echo "FAILED: curl $*" >&2; exit 1; }
  local code=${out##*$'\n'}; out=${out%$'\n'*}
  case $code in 2??) ;; *) echo "FAILED ($code): curl $* => $out" >&2; exit 1;; esac
  if [[ "$out" == '{"error"'* ]]; then echo "FAILED: curl $* => $out" >&2; exit 1; fi
  printf '%s\n' "$out"
}
`
		cmd := exec.Command("bash", "-c", prelude+script)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "BIN="+bin, "DATA="+data, "ORGDAV_URL="+url)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		return string(out)
	}
	cli := run("the shared lists section", readmeScript(t, readmeSection(t, "Shared contact lists")))
	for _, want := range []string{"would import (dry run, nothing changed)", "Suppliers  enabled", "receive it"} {
		if !strings.Contains(cli, want) {
			t.Errorf("the CLI's output lacks %q:\n%s", want, cli)
		}
	}
	script := strings.Replace(readmeScript(t, readmeSection(t, "Admin API")), "ORGDAV=http://127.0.0.1:8080", "ORGDAV="+strings.TrimSuffix(url, "/"), 1)
	out := run("the admin API section", script)
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(line, "{") || strings.HasPrefix(line, "[") {
			if !json.Valid([]byte(line)) {
				t.Errorf("not JSON: %.200s", line)
			}
		}
	}
	exported, err := os.ReadFile(filepath.Join(work, "suppliers.csv"))
	if err != nil || !strings.HasPrefix(string(exported), "First Name,") || strings.Count(string(exported), "\n") < 3 {
		t.Errorf("the exported suppliers.csv: %v\n%.300s", err, exported)
	}
	audit, code := orgdav(t, bin, "audit", "--data", data)
	for _, want := range []string{"import", "create list", "delete list", "change list", "add contact"} {
		if code != 0 || !strings.Contains(audit, want) {
			t.Errorf("orgdav audit lacks %q: %d\n%s", want, code, audit)
		}
	}
}
