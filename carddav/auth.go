package carddav

import (
	"net/http"
	"strconv"
)

// Realm is the fixed Basic realm: macOS fails when it varies by host name.
const Realm = "orgdav"

// authenticate returns the canonical user, or writes the refusal and
// returns "".
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) string {
	user, no := s.gate.Check(r)
	if no == nil {
		return user
	}
	s.metrics.authFailures.WithLabelValues(no.Reason).Inc()
	switch {
	case no.Status == http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Basic realm="`+Realm+`", charset="UTF-8"`)
	case no.RetryAfter > 0:
		// Clients retry a 503 or 429 instead of asking for the password
		// again.
		w.Header().Set("Retry-After", strconv.Itoa(no.RetryAfter))
	}
	http.Error(w, no.Message, no.Status)
	return ""
}
