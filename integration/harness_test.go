// Package integration runs orgdav end to end against real clients and,
// where available, real directory servers. Prerequisites are Debian
// packages installed by scripts/test; without them the tests skip, except
// under CI=true, where a missing prerequisite fails.
package integration

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/orgdav/orgdav/auth"
	"github.com/orgdav/orgdav/carddav"
	"github.com/orgdav/orgdav/directory"
	"github.com/orgdav/orgdav/store"
	"github.com/prometheus/client_golang/prometheus"
)

// need skips when a program is missing, or fails under CI=true.
func need(t *testing.T, program, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(program)
	if err == nil {
		return path
	}
	msg := program + " is not installed (Debian package " + pkg + "); scripts/test installs it when run as root"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// must fails the test on an error from a setup step.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// liveServer is orgdav's handler over a store on a real loopback port,
// with the directory snapshot under the test's control.
type liveServer struct {
	t    *testing.T
	st   *store.Store
	snap directory.Snapshot
	url  string
}

func startLive(t *testing.T, people int) *liveServer {
	t.Helper()
	rules, err := directory.NewRules(nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(t.TempDir(), "orgdav.db"), store.Options{Fingerprint: carddav.RenderFingerprint(rules)})
	if err != nil {
		t.Fatal(err)
	}
	ls := &liveServer{t: t, st: st, snap: directory.Demo(people)}
	ls.apply()
	reg := prometheus.NewRegistry()
	h := carddav.New(st, rules, auth.DemoAuth{Store: st, Password: directory.DemoPassword}, carddav.Options{Registry: reg})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		st.Close()
	})
	ls.url = "http://" + ln.Addr().String() + "/"
	return ls
}

func (ls *liveServer) apply() {
	ls.t.Helper()
	pub, err := directory.Normalize(ls.snap)
	if err != nil {
		ls.t.Fatal(err)
	}
	if _, err := ls.st.Apply(pub); err != nil {
		ls.t.Fatal(err)
	}
}

func (ls *liveServer) person(username string) *directory.Person {
	for i := range ls.snap.People {
		if ls.snap.People[i].Username == username {
			return &ls.snap.People[i]
		}
	}
	ls.t.Fatalf("no demo person %q", username)
	return nil
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

// buildBinary compiles cmd/orgdav once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "orgdav-bin")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "orgdav")
		cmd := exec.Command("go", "build", "-o", binPath, "../cmd/orgdav")
		cmd.Stderr = os.Stderr
		binErr = cmd.Run()
	})
	if binErr != nil {
		t.Fatalf("go build: %v", binErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

var (
	urlRE     = regexp.MustCompile(`msg="orgdav serving" url=(\S+)`)
	metricsRE = regexp.MustCompile(`msg="metrics served" url=(\S+)`)
	// metricsURLs maps a running server's URL to its metrics URL.
	metricsURLs sync.Map
	// pids maps a running server's URL to its process ID.
	pids sync.Map
)

// runBinary starts `orgdav serve` on a free loopback port and returns the
// URL it logs; the process is stopped by PID when the test ends.
func runBinary(t *testing.T, bin string, args ...string) (url string, logs *logBuffer, stop func() error) {
	return runBinaryEnv(t, bin, nil, args...)
}

// runBinaryEnv is runBinary with extra environment variables.
func runBinaryEnv(t *testing.T, bin string, env []string, args ...string) (url string, logs *logBuffer, stop func() error) {
	t.Helper()
	// Metrics on a free port of their own, found in the log (metric).
	cmd := exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs = &logBuffer{}
	found := make(chan string, 1)
	metricsAt := "" // logged before the URL
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.add(sc.Text() + "\n")
			if m := metricsRE.FindStringSubmatch(sc.Text()); m != nil {
				metricsAt = m[1]
			}
			if m := urlRE.FindStringSubmatch(sc.Text()); m != nil {
				metricsURLs.Store(m[1], metricsAt)
				pids.Store(m[1], cmd.Process.Pid)
				found <- m[1]
			}
		}
	}()
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGTERM)
		err := cmd.Wait()
		<-done
		return err
	}
	t.Cleanup(func() {
		if !stopped {
			cmd.Process.Kill()
			stop()
		}
	})
	select {
	case url = <-found:
	case <-time.After(60 * time.Second):
		stop()
		t.Fatalf("orgdav did not log its URL within 60s:\n%s", logs.String())
	}
	return url, logs, stop
}

// logBuffer collects a running server's log lines; safe to read while it
// writes.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(line)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitForLog waits until the server has logged want.
func waitForLog(t *testing.T, logs *logBuffer, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !strings.Contains(logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the server did not log %q within %v:\n%s", want, within, logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// metric reads one sample from the metrics of the server at base: the
// first line that starts with series (name and labels as Prometheus prints
// them); -1 if none.
func metric(t *testing.T, base, series string) float64 {
	t.Helper()
	at, ok := metricsURLs.Load(base)
	if !ok || at == "" {
		t.Fatalf("no metrics listener logged for %s", base)
	}
	resp, err := http.Get(at.(string))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("metric %s: %q", series, rest)
			}
			return v
		}
	}
	return -1
}

// relay forwards loopback connections to target and counts them. With
// stallFirst, the first connection is accepted but carries nothing until
// release is called: a directory that answers everyone but the first
// import.
type relay struct {
	addr    string
	conns   atomic.Int64
	release func()
}

func newRelay(t *testing.T, target string, stallFirst bool) *relay {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	r := &relay{addr: ln.Addr().String()}
	released := make(chan struct{})
	var once sync.Once
	r.release = func() { once.Do(func() { close(released) }) }
	t.Cleanup(r.release)
	if !stallFirst {
		r.release()
	}
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			n := r.conns.Add(1)
			go func() {
				if n == 1 {
					<-released
				}
				server, err := net.Dial("tcp", target)
				if err != nil {
					client.Close()
					return
				}
				go func() { io.Copy(server, client); server.Close() }()
				io.Copy(client, server)
				client.Close()
			}()
		}
	}()
	return r
}
