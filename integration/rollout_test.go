package integration

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// The rollout-day load client that scripts/bench runs works against the
// binary: every viewer downloads every card, and the server's CPU and
// memory are read from /proc.
func TestRolloutLoadClientDownloadsEveryViewersBook(t *testing.T) {
	bin := buildBinary(t)
	client := filepath.Join(t.TempDir(), "rollout")
	build := exec.Command("go", "build", "-o", client, "./rollout")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./rollout: %v\n%s", err, out)
	}
	url, _, _ := runBinary(t, bin, "--data", t.TempDir(), "--demo-people", "2000")
	pid, _ := pids.Load(url)
	out, err := exec.Command(client, "-url", url, "-people", "2000", "-viewers", "6", "-concurrency", "3",
		"-pid", strconv.Itoa(pid.(int)), "-timeout", "2m").CombinedOutput()
	if err != nil {
		t.Fatalf("rollout: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	m := regexp.MustCompile(`rollout: 6 viewers, 3 at a time, (\d+) cards`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no summary line:\n%s", out)
	}
	if cards, _ := strconv.Atoi(string(m[1])); cards < 6*1900 {
		t.Fatalf("6 viewers of about 1,950 people downloaded %d cards", cards)
	}
	for _, want := range []string{`requests: \d+, p50 `, `server CPU: [0-9.]+m?s \(`, `server RSS: \d+ MiB before, \d+ MiB peak during`} {
		if !regexp.MustCompile(want).Match(out) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
}
