package carddav

import (
	"errors"
	"net"
	"net/http"
	"strconv"

	"github.com/orgdav/orgdav/auth"
)

// Realm is the fixed Basic realm: macOS fails when it varies by host name.
const Realm = "orgdav"

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
	if blocked, wait := s.throttle.Blocked(user, ip); blocked {
		s.metrics.authFailures.WithLabelValues("throttled").Inc()
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		http.Error(w, "Too many failed logins: wait and try again.", http.StatusTooManyRequests)
		return ""
	}
	canon, err := s.auth.Authenticate(r.Context(), user, pass)
	switch {
	case errors.Is(err, auth.ErrDirectoryUnavailable):
		// Not the user's fault: no throttling, and no password prompt.
		s.metrics.authFailures.WithLabelValues("directory-unavailable").Inc()
		s.log.Error("login impossible: directory unavailable", "err", err)
		w.Header().Set("Retry-After", "60")
		http.Error(w, "The directory cannot check passwords right now; try again later.", http.StatusServiceUnavailable)
		return ""
	case errors.Is(err, auth.ErrNotReady):
		// The password was right: the phone must not ask for it again.
		s.metrics.authFailures.WithLabelValues("not-ready").Inc()
		s.log.Debug("login waits for the first directory import", "user", user)
		w.Header().Set("Retry-After", "30")
		http.Error(w, "The directory is still being imported; try again in a minute.", http.StatusServiceUnavailable)
		return ""
	case err != nil:
		s.throttle.Fail(user, ip)
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
