package auth

import (
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Throttle limits failed logins per user name and per client address. A
// key whose failure budget is spent is refused before its password is
// checked, so guessing costs time without telling anything.
type Throttle struct {
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

// NewThrottle allows 5 failures per user name, then one per 10 s, and 20
// per client address, then one every 2 s.
func NewThrottle() *Throttle {
	return &Throttle{
		entries: map[string]*throttleEntry{},
		perUser: rate.Every(10 * time.Second), userB: 5,
		perIP: rate.Every(2 * time.Second), ipB: 20,
	}
}

func (t *Throttle) limiter(key string, create bool) *rate.Limiter {
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
func (t *Throttle) prune() {
	cutoff := time.Now().Add(-10 * time.Minute)
	for k, e := range t.entries {
		if e.seen.Before(cutoff) {
			delete(t.entries, k)
		}
	}
}

// Blocked reports whether the user or address has no failures left, and
// how long until one is available again.
func (t *Throttle) Blocked(user, ip string) (bool, time.Duration) {
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

// Fail counts a failed login of user from ip.
func (t *Throttle) Fail(user, ip string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	t.limiter("user:"+strings.ToLower(user), true).AllowN(now, 1)
	t.limiter("ip:"+ip, true).AllowN(now, 1)
}

// FailClient counts an attempt from ip that could not be checked (the
// directory was down): while it is, cached logins are all a guesser could
// hit, so guesses still cost the client; the user is not blocked by
// someone else's guesses.
func (t *Throttle) FailClient(ip string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.limiter("ip:"+ip, true).AllowN(time.Now(), 1)
}
