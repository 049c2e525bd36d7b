package auth

import (
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
)

// Realm is the fixed Basic realm of every surface: macOS fails when it
// varies by host name.
const Realm = "orgdav"

// Gate checks the HTTP Basic login of a request, the same way for every
// surface (CardDAV, the admin API): throttled by user and client, cached
// logins first, a directory that cannot answer never taken for a wrong
// password. Each surface writes its own refusal.
type Gate struct {
	Auth     Authenticator
	Throttle *Throttle
	// TrustedProxies may name the client in X-Forwarded-For or Forwarded.
	TrustedProxies []netip.Prefix
	Log            *slog.Logger
}

// Refusal is why a login was not accepted and how to answer it.
type Refusal struct {
	Status int // 401, 429 or 503
	// Reason labels the refusal in metrics: missing, throttled,
	// bad-credentials, error, directory-unavailable, not-ready.
	Reason     string
	RetryAfter int // seconds, for 429 and 503
	Message    string
}

// SetHeaders sets the headers that go with the refusal: the Basic
// challenge for a 401; Retry-After for a 429 or 503, so clients retry
// instead of asking for the password again.
func (no *Refusal) SetHeaders(h http.Header) {
	switch {
	case no.Status == http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Basic realm="`+Realm+`", charset="UTF-8"`)
	case no.RetryAfter > 0:
		h.Set("Retry-After", strconv.Itoa(no.RetryAfter))
	}
}

// Check returns the canonical user name of the request's login, or why
// there is none.
func (g *Gate) Check(r *http.Request) (string, *Refusal) {
	user, pass, ok := r.BasicAuth()
	if !ok || user == "" {
		return "", &Refusal{Status: http.StatusUnauthorized, Reason: "missing",
			Message: "Authentication required: log in with your directory user name and password."}
	}
	// Checked before the password, so a client whose guesses are spent
	// learns nothing about its next one; only its own failures count, so
	// no one else's guesses can keep a user with the right password out.
	ip := ClientAddress(r, g.TrustedProxies)
	if blocked, wait := g.Throttle.Blocked(user, ip); blocked {
		return "", throttled(int(wait.Seconds()) + 1)
	}
	if c, ok := g.Auth.(Cacher); ok {
		if canon, ok := c.Cached(user, pass); ok {
			return canon, nil
		}
	}
	// A check that may fail holds a failure of the budgets until it ends:
	// guesses sent all at once get no more tries than one after another.
	end, wait, ok := g.Throttle.Begin(user, ip)
	if !ok {
		return "", throttled(int(wait.Seconds()) + 1)
	}
	outcome := Succeeded
	defer func() { end(outcome) }()
	canon, err := g.Auth.Authenticate(r.Context(), user, pass)
	switch {
	case errors.Is(err, ErrDirectoryUnavailable):
		// Not the user's fault: no password prompt. Guesses against the
		// logins still cached cost the client all the same.
		outcome = Unchecked
		g.log().Error("login impossible: directory unavailable", "err", err)
		return "", &Refusal{Status: http.StatusServiceUnavailable, Reason: "directory-unavailable", RetryAfter: 60,
			Message: "The directory cannot check passwords right now; try again later."}
	case errors.Is(err, ErrNotReady):
		// The password was right: the phone must not ask for it again.
		g.log().Debug("login waits for the first directory import", "user", user)
		return "", &Refusal{Status: http.StatusServiceUnavailable, Reason: "not-ready", RetryAfter: 30,
			Message: "The directory is still being imported; try again in a minute."}
	case err != nil:
		outcome = Failed
		reason := "bad-credentials"
		if !errors.Is(err, ErrBadCredentials) {
			reason = "error"
			g.log().Error("authentication failed", "user", user, "err", err)
		}
		return "", &Refusal{Status: http.StatusUnauthorized, Reason: reason,
			Message: "Authentication required: log in with your directory user name and password."}
	}
	return canon, nil
}

func throttled(wait int) *Refusal {
	return &Refusal{Status: http.StatusTooManyRequests, Reason: "throttled", RetryAfter: wait,
		Message: "Too many failed logins: wait and try again."}
}

func (g *Gate) log() *slog.Logger {
	if g.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return g.Log
}
