package carddav

import (
	"context"
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/orgdav/orgdav/store"
	"golang.org/x/time/rate"
)

// Realm is the fixed Basic realm: macOS fails when it varies by host name.
const Realm = "orgdav"

// ErrBadCredentials is the one answer for an unknown user and a wrong
// password alike, so responses do not reveal which accounts exist.
var ErrBadCredentials = errors.New("bad credentials")

// Authenticator checks a login and returns the canonical user name.
type Authenticator interface {
	Authenticate(ctx context.Context, username, password string) (string, error)
}

// DemoAuth accepts every published person of the store with one shared
// password: the demo directory's login.
type DemoAuth struct {
	Store    *store.Store
	Password string
}

// Authenticate implements Authenticator.
func (a DemoAuth) Authenticate(_ context.Context, username, password string) (string, error) {
	ok := subtle.ConstantTimeCompare([]byte(password), []byte(a.Password)) == 1
	it, found := a.Store.Index().User(username)
	if !ok || !found {
		return "", ErrBadCredentials
	}
	return it.Username, nil
}

// throttle limits failed logins per user name and per client address.
// A key whose failure budget is spent is refused before its password is
// checked, so guessing costs time without telling anything.
type throttle struct {
	mu      sync.Mutex
	entries map[string]*throttleEntry
	perUser rate.Limit
	userB   int
	perIP   rate.Limit
	ipB     int
}

type throttleEntry struct {
	lim  *rate.Limiter
	seen time.Time
}

const maxThrottleEntries = 100000

func newThrottle() *throttle {
	return &throttle{
		entries: map[string]*throttleEntry{},
		perUser: rate.Every(10 * time.Second), userB: 5,
		perIP: rate.Every(2 * time.Second), ipB: 20,
	}
}

func (t *throttle) limiter(key string, create bool) *rate.Limiter {
	e := t.entries[key]
	if e == nil {
		if !create {
			return nil
		}
		if len(t.entries) >= maxThrottleEntries {
			t.prune()
		}
		lim, b := t.perUser, t.userB
		if strings.HasPrefix(key, "ip:") {
			lim, b = t.perIP, t.ipB
		}
		e = &throttleEntry{lim: rate.NewLimiter(lim, b)}
		t.entries[key] = e
	}
	e.seen = time.Now()
	return e.lim
}

// prune forgets keys that have been quiet long enough to be full again.
func (t *throttle) prune() {
	cutoff := time.Now().Add(-10 * time.Minute)
	for k, e := range t.entries {
		if e.seen.Before(cutoff) {
			delete(t.entries, k)
		}
	}
}

// blocked reports whether the user or address has no failures left, and
// how long until one is available again.
func (t *throttle) blocked(user, ip string) (bool, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	for _, k := range []string{"user:" + strings.ToLower(user), "ip:" + ip} {
		if l := t.limiter(k, false); l != nil && l.TokensAt(now) < 1 {
			r := l.ReserveN(now, 1)
			d := r.DelayFrom(now)
			r.CancelAt(now)
			return true, d
		}
	}
	return false, 0
}

func (t *throttle) fail(user, ip string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	t.limiter("user:"+strings.ToLower(user), true).AllowN(now, 1)
	t.limiter("ip:"+ip, true).AllowN(now, 1)
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func challenge(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="`+Realm+`", charset="UTF-8"`)
	http.Error(w, "Authentication required: log in with your directory user name and password.", http.StatusUnauthorized)
}

// authenticate returns the canonical user, or writes the refusal and
// returns "".
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) string {
	user, pass, ok := r.BasicAuth()
	if !ok || user == "" {
		s.metrics.authFailures.WithLabelValues("missing").Inc()
		challenge(w)
		return ""
	}
	ip := clientIP(r)
	if blocked, wait := s.throttle.blocked(user, ip); blocked {
		s.metrics.authFailures.WithLabelValues("throttled").Inc()
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		http.Error(w, "Too many failed logins: wait and try again.", http.StatusTooManyRequests)
		return ""
	}
	canon, err := s.auth.Authenticate(r.Context(), user, pass)
	switch {
	case errors.Is(err, ErrDirectoryUnavailable):
		// Not the user's fault: no throttling, and no password prompt.
		s.metrics.authFailures.WithLabelValues("directory-unavailable").Inc()
		s.log.Error("login impossible: directory unavailable", "err", err)
		w.Header().Set("Retry-After", "60")
		http.Error(w, "The directory cannot check passwords right now; try again later.", http.StatusServiceUnavailable)
		return ""
	case err != nil:
		s.throttle.fail(user, ip)
		reason := "bad-credentials"
		if !errors.Is(err, ErrBadCredentials) {
			reason = "error"
			s.log.Error("authentication failed", "user", user, "err", err)
		}
		s.metrics.authFailures.WithLabelValues(reason).Inc()
		challenge(w)
		return ""
	}
	return canon
}
