package carddav

import (
	"net/http"

	"github.com/orgdav/orgdav/auth"
)

// Realm is the fixed Basic realm: macOS fails when it varies by host name.
const Realm = auth.Realm

// authenticate returns the canonical user, or writes the refusal and
// returns "".
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) string {
	user, no := s.gate.Check(r)
	if no == nil {
		return user
	}
	s.metrics.authFailures.WithLabelValues(no.Reason).Inc()
	no.SetHeaders(w.Header())
	http.Error(w, no.Message, no.Status)
	return ""
}
