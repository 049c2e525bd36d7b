package carddav

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/orgdav/orgdav/auth"
	"github.com/orgdav/orgdav/directory"
)

// throttleServer is a server over the demo directory that trusts the
// given proxies; tests call its handler with the connection address they
// need, which requests through httptest.Server cannot choose.
func throttleServer(t *testing.T, trusted ...string) (*Server, *env) {
	t.Helper()
	e := newEnv(t, 60)
	var opt Options
	for _, p := range trusted {
		opt.TrustedProxies = append(opt.TrustedProxies, netip.MustParsePrefix(p))
	}
	return New(e.st, e.rules, auth.DemoAuth{Store: e.st, Password: directory.DemoPassword}, opt), e
}

// loginFrom asks for user's principal from the connection address remote,
// with header name/value pairs, and returns the status code.
func loginFrom(s *Server, remote, user, pass string, headers ...string) int {
	req := httptest.NewRequest("PROPFIND", principalPath(user), nil)
	req.RemoteAddr = remote
	req.Header.Set("Depth", "0")
	req.SetBasicAuth(user, pass)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec.Code
}

// guessUntil sends wrong passwords from next() until stop is closed, and
// returns the status codes it got.
func guessUntil(s *Server, stop <-chan struct{}, next func(i int) (remote, user string, headers []string)) <-chan map[int]int {
	done := make(chan map[int]int, 1)
	go func() {
		codes := map[int]int{}
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- codes
				return
			default:
			}
			remote, user, headers := next(i)
			codes[loginFrom(s, remote, user, "wrong", headers...)]++
		}
	}()
	return done
}

// Failing for a user must not lock out that user's own phone: the
// throttle used to count failures per user name, wherever they came from.
func TestAttackerCannotLockOutAUser(t *testing.T) {
	s, _ := throttleServer(t)
	start := time.Now()
	stop := make(chan struct{})
	result := guessUntil(s, stop, func(int) (string, string, []string) { return "192.0.2.66:40000", "dave", nil })
	var refused []int
	for i := range 40 {
		time.Sleep(50 * time.Millisecond)
		if code := loginFrom(s, "198.51.100.20:50000", "dave", directory.DemoPassword); code != http.StatusMultiStatus {
			refused = append(refused, i)
		}
	}
	close(stop)
	codes := <-result
	t.Logf("attacker: %v", codes)
	if len(refused) > 0 {
		t.Errorf("dave's right password was refused in logins %v of 40 while another client guessed", refused)
	}
	// 5 failures, then one more per 10s.
	if most := 5 + int(time.Since(start)/(10*time.Second)); codes[http.StatusTooManyRequests] == 0 || codes[http.StatusUnauthorized] > most {
		t.Errorf("the guessing client got %v; want at most %d refusals, then 429", codes, most)
	}
}

// Behind a TLS proxy every request comes from the proxy's address: its
// budget used to be everyone's, so one guesser refused all.
func TestEmployeesBehindAProxyAreNotLockedOut(t *testing.T) {
	s, e := throttleServer(t, "10.0.0.1/32")
	var users []string
	for _, p := range e.snap.People {
		if len(users) < 40 && loginFrom(s, "10.0.0.1:443", p.Username, directory.DemoPassword, "X-Forwarded-For", "192.0.2.1") == http.StatusMultiStatus {
			users = append(users, p.Username)
		}
	}
	if len(users) < 40 {
		t.Fatalf("only %d demo people can log in; want 40", len(users))
	}
	start := time.Now()
	stop := make(chan struct{})
	result := guessUntil(s, stop, func(i int) (string, string, []string) {
		// The guesser tries every employee, and puts the first one's address
		// on the left, where a client may write anything.
		return "10.0.0.1:443", users[i%len(users)], []string{"X-Forwarded-For", "198.51.100.1, 203.0.113.66"}
	})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var refused []string
	for i, u := range users {
		wg.Go(func() {
			time.Sleep(time.Duration(i) * 25 * time.Millisecond)
			xff := netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)}).String()
			if code := loginFrom(s, "10.0.0.1:443", u, directory.DemoPassword, "X-Forwarded-For", xff); code != http.StatusMultiStatus {
				mu.Lock()
				refused = append(refused, u)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(stop)
	codes := <-result
	t.Logf("attacker: %v", codes)
	if len(refused) > 0 {
		t.Errorf("%d of 40 employees behind the proxy were refused their right password: %v", len(refused), refused)
	}
	// 20 failures, then one more per 2s.
	if most := 20 + int(time.Since(start)/(2*time.Second)); codes[http.StatusTooManyRequests] == 0 || codes[http.StatusUnauthorized] > most {
		t.Errorf("the guesser got %v; want at most %d refusals, then 429", codes, most)
	}
	if b, _ := s.opt.Throttle.Blocked("nobody", "203.0.113.66"); !b {
		t.Error("the guesser's failures were not counted against its own address")
	}
}

// Failures count against the client a trusted proxy names, and against
// the peer when the header cannot be trusted or read.
func TestThrottleCountsTheForwardedClient(t *testing.T) {
	for _, tc := range []struct {
		name    string
		remote  string
		headers []string
		want    string // the address the failures count against
		notWant string // an address they must not count against
	}{
		{"trusted proxy names the client", "10.0.0.1:443",
			[]string{"X-Forwarded-For", "203.0.113.7"}, "203.0.113.7", "10.0.0.1"},
		{"untrusted peer's header is ignored", "198.51.100.9:443",
			[]string{"X-Forwarded-For", "203.0.113.7"}, "198.51.100.9", "203.0.113.7"},
		{"client's own entries left of the proxy's are ignored", "10.0.0.1:443",
			[]string{"X-Forwarded-For", "192.0.2.1, 203.0.113.7"}, "203.0.113.7", "192.0.2.1"},
		{"Forwarded names a bracketed IPv6 client", "10.0.0.1:443",
			[]string{"Forwarded", `for="[2001:db8::1]:4711";proto=https`}, "2001:db8::1", "10.0.0.1"},
		{"garbage falls back to the peer", "10.0.0.1:443",
			[]string{"X-Forwarded-For", "definitely; not, an address"}, "10.0.0.1", "203.0.113.7"},
		{"obfuscated node falls back to the peer", "10.0.0.1:443",
			[]string{"Forwarded", "for=_hidden"}, "10.0.0.1", "203.0.113.7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := throttleServer(t, "10.0.0.1/32")
			for i := range 5 {
				if code := loginFrom(s, tc.remote, "bob", "wrong", tc.headers...); code != http.StatusUnauthorized {
					t.Fatalf("failure %d: %d; want 401", i+1, code)
				}
			}
			if code := loginFrom(s, tc.remote, "bob", "wrong", tc.headers...); code != http.StatusTooManyRequests {
				t.Fatalf("6th failure: %d; want 429", code)
			}
			// Asked directly, without a header: only want is spent.
			if code := loginFrom(s, netip.AddrPortFrom(netip.MustParseAddr(tc.want), 1).String(), "bob", "wrong"); code != http.StatusTooManyRequests {
				t.Errorf("from %s: %d; want 429", tc.want, code)
			}
			if code := loginFrom(s, netip.AddrPortFrom(netip.MustParseAddr(tc.notWant), 1).String(), "bob", directory.DemoPassword); code != http.StatusMultiStatus {
				t.Errorf("bob's right password from %s: %d; want 207", tc.notWant, code)
			}
			if code := loginFrom(s, "192.0.2.99:1", "bob", directory.DemoPassword); code != http.StatusMultiStatus {
				t.Errorf("bob's right password from an unrelated client: %d; want 207", code)
			}
		})
	}
}

// slowAuth checks passwords slowly, as a directory bind does, and counts
// the checks; it keeps no cache.
type slowAuth struct {
	mu     sync.Mutex
	checks int
}

func (a *slowAuth) Authenticate(ctx context.Context, user, pass string) (string, error) {
	a.mu.Lock()
	a.checks++
	a.mu.Unlock()
	time.Sleep(100 * time.Millisecond)
	if pass == "right" {
		return user, nil
	}
	return "", auth.ErrBadCredentials
}

func TestGuessesSentAllAtOnceGetNoMoreTriesThanOneAfterAnother(t *testing.T) {
	e := newEnv(t, 60)
	a := &slowAuth{}
	s := New(e.st, e.rules, a, Options{})
	codes := make(chan int, 300)
	var wg sync.WaitGroup
	for range 300 {
		wg.Go(func() { codes <- loginFrom(s, "192.0.2.66:4000", "dave", "wrong") })
	}
	wg.Wait()
	close(codes)
	counted := map[int]int{}
	for c := range codes {
		counted[c]++
	}
	if a.checks > 5 || counted[http.StatusTooManyRequests] < 295 {
		t.Fatalf("300 guesses at once: %d reached the directory (the budget is 5), codes %v", a.checks, counted)
	}
}

func TestAPhoneSendingItsRightPasswordManyTimesAtOnceIsNeverRefused(t *testing.T) {
	s, _ := throttleServer(t)
	codes := make(chan int, 50)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { codes <- loginFrom(s, "198.51.100.20:4000", "dave", directory.DemoPassword) })
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != http.StatusMultiStatus {
			t.Fatalf("a right login among 50 at once: %d", c)
		}
	}
}
