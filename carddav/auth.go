package carddav

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/orgdav/orgdav/auth"
)

// Realm is the fixed Basic realm: macOS fails when it varies by host name.
const Realm = "orgdav"

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
	// Checked before the password, so a client whose guesses are spent
	// learns nothing about its next one; only its own failures count, so
	// no one else's guesses can keep a user with the right password out.
	ip := s.clientIP(r)
	if blocked, wait := s.throttle.Blocked(user, ip); blocked {
		s.tooMany(w, wait)
		return ""
	}
	if c, ok := s.auth.(auth.Cacher); ok {
		if canon, ok := c.Cached(user, pass); ok {
			return canon
		}
	}
	// A check that may fail holds a failure of the budgets until it ends:
	// guesses sent all at once get no more tries than one after another.
	end, wait, ok := s.throttle.Begin(user, ip)
	if !ok {
		s.tooMany(w, wait)
		return ""
	}
	outcome := auth.Succeeded
	defer func() { end(outcome) }()
	canon, err := s.auth.Authenticate(r.Context(), user, pass)
	switch {
	case errors.Is(err, auth.ErrDirectoryUnavailable):
		// Not the user's fault: no password prompt. Guesses against the
		// logins still cached cost the client all the same.
		outcome = auth.Unchecked
		s.log.Error("login impossible: directory unavailable", "err", err)
		s.retryLater(w, "directory-unavailable", 60, "The directory cannot check passwords right now; try again later.")
		return ""
	case errors.Is(err, auth.ErrNotReady):
		// The password was right: the phone must not ask for it again.
		s.log.Debug("login waits for the first directory import", "user", user)
		s.retryLater(w, "not-ready", 30, "The directory is still being imported; try again in a minute.")
		return ""
	case err != nil:
		outcome = auth.Failed
		reason := "bad-credentials"
		if !errors.Is(err, auth.ErrBadCredentials) {
			reason = "error"
			s.log.Error("authentication failed", "user", user, "err", err)
		}
		s.metrics.authFailures.WithLabelValues(reason).Inc()
		challenge(w)
		return ""
	}
	return canon
}

// retryLater refuses a login that is not the user's fault with 503 and
// Retry-After: clients retry instead of asking for the password again.
func (s *Server) retryLater(w http.ResponseWriter, reason string, seconds int, msg string) {
	s.metrics.authFailures.WithLabelValues(reason).Inc()
	w.Header().Set("Retry-After", strconv.Itoa(seconds))
	http.Error(w, msg, http.StatusServiceUnavailable)
}

func (s *Server) tooMany(w http.ResponseWriter, wait time.Duration) {
	s.metrics.authFailures.WithLabelValues("throttled").Inc()
	w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
	http.Error(w, "Too many failed logins: wait and try again.", http.StatusTooManyRequests)
}
