package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readme returns the README's text.
func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fencedBlocks returns the bodies of text's ```lang blocks, in order.
func fencedBlocks(text, lang string) []string {
	var out []string
	for _, m := range regexp.MustCompile("(?s)```"+regexp.QuoteMeta(lang)+"\n(.*?)```").FindAllStringSubmatch(text, -1) {
		out = append(out, m[1])
	}
	return out
}

// readmeYAML returns the README's yaml block that starts with start.
func readmeYAML(t *testing.T, start string) string {
	t.Helper()
	for _, b := range fencedBlocks(readme(t), "yaml") {
		if strings.HasPrefix(b, start) {
			return b
		}
	}
	t.Fatalf("README.md has no yaml block starting %q", start)
	return ""
}

// orgdavEnv runs an orgdav command with exactly the given extra
// environment on top of PATH and HOME.
func orgdavEnv(t *testing.T, bin string, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, env...)
	return runCommand(t, cmd)
}

// TestSetupAsTheREADMEShows follows the README's "Connect your directory"
// against a real slapd: its example config (with this server's address and
// suffix) checks, serves, and the commands that talk to the running server
// need no bind password.
func TestSetupAsTheREADMEShows(t *testing.T) {
	ldif, _ := generateOrg(120)
	srv := startSlapd(t, ldif)
	bin := buildBinary(t)
	dir := t.TempDir()
	example := readmeYAML(t, "sources:\n  - name: corp")
	example = strings.ReplaceAll(example, "dc=example,dc=org", suffix)
	example = strings.Replace(example, "ldaps://ldap.example.org", srv.url, 1)
	cfg := filepath.Join(dir, "orgdav.yaml")
	must(t, os.WriteFile(cfg, []byte(example), 0o600))
	password := []string{"ORGDAV_CORP_PASSWORD=" + servicePass}

	out, code := orgdavEnv(t, bin, password, "check", "--config", cfg)
	if code != 0 || !strings.Contains(out, "source corp (draft): connected and read") || !strings.Contains(out, "would be published") {
		t.Fatalf("orgdav check on the README's example: %d\n%s", code, out)
	}
	// Departments by name, as people read them, not departmentNumber's codes.
	if !regexp.MustCompile(`department "(Engineering|Sales, EMEA|Marketing|Finance|Support; L2|Research|Legal|Operations)"`).MatchString(out) || strings.Contains(out, `department "D`) {
		t.Errorf("check's samples do not show department names:\n%s", out)
	}

	enabled := filepath.Join(dir, "enabled.yaml")
	must(t, os.WriteFile(enabled, []byte(strings.Replace(example, "state: draft", "state: enabled", 1)), 0o600))
	data := filepath.Join(dir, "data")
	out, code = orgdavEnv(t, bin, nil, "serve", "--config", enabled, "--data", data, "--listen", "127.0.0.1:0")
	if code != 1 || !strings.Contains(out, "config: sources[corp].bind_password_env: environment variable ORGDAV_CORP_PASSWORD is empty or unset") {
		t.Fatalf("serve without the bind password: %d\n%s", code, out)
	}
	if _, err := os.Stat(data); err == nil {
		t.Fatal("serve refused its config but created the data directory")
	}

	url, _, stop := runBinaryEnv(t, bin, password, "--config", enabled, "--data", data)
	defer stop()
	waitFor(t, "the first directory run", func() bool { return metric(t, url, "orgdav_company_book_people") > 0 })
	// Without the password, through the running server's socket.
	if out, code := orgdavEnv(t, bin, nil, "logs", "--config", enabled, "--data", data); code != 0 || !strings.Contains(out, "startup") {
		t.Errorf("orgdav logs without the bind password: %d\n%s", code, out)
	}
	if out, code := orgdavEnv(t, bin, nil, "sync", "--config", enabled, "--data", data, "corp"); code != 0 || !strings.Contains(out, "manual") {
		t.Errorf("orgdav sync without the bind password: %d\n%s", code, out)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// Without a server, sync reads the directory itself: then it needs it.
	if out, code := orgdavEnv(t, bin, nil, "sync", "--config", enabled, "--data", data, "corp"); code != 1 || !strings.Contains(out, "sources[corp].bind_password_env") {
		t.Errorf("orgdav sync without a server or the bind password: %d\n%s", code, out)
	}

	// A base DN that does not exist: the message says what to do, without
	// the dangling colon of an empty server message.
	missing := filepath.Join(dir, "missing.yaml")
	must(t, os.WriteFile(missing, []byte(strings.Replace(example, `"ou=people,`+suffix+`"`, `"ou=nobody,`+suffix+`"`, 1)), 0o600))
	out, code = orgdavEnv(t, bin, password, "check", "--config", missing)
	if code != 1 || !strings.Contains(out, `"No Such Object" (no such entry: check people.base_dns`) || strings.Contains(out, ":  (") {
		t.Errorf("check with a missing base DN: %d\n%s", code, out)
	}
}
