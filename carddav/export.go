package carddav

import (
	"mime"
	"net/http"
	"strings"
)

// wantsExport reports whether a GET of a book asks for the whole book as
// one vCard file: ?export, or an Accept header that names vCard.
func wantsExport(r *http.Request) bool {
	if _, ok := r.URL.Query()["export"]; ok {
		return true
	}
	accept := strings.ToLower(r.Header.Get("Accept"))
	return strings.Contains(accept, "text/vcard") || strings.Contains(accept, "text/x-vcard")
}

// exportBook streams every card of a book, as the viewer sees it, in one
// .vcf file: vCard 3.0, or 4.0 when asked for (Accept: text/vcard;
// version=4.0, or ?export=4.0).
func (s *Server) exportBook(w http.ResponseWriter, r *http.Request, b book) {
	v4 := wantsV4(r.Header.Get("Accept")) || r.URL.Query().Get("export") == "4.0"
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": b.displayName() + ".vcf"}))
	w.Header().Set("Vary", "Accept")
	out, finish := body(w, r, "text/vcard; charset=utf-8", http.StatusOK)
	if r.Method == http.MethodHead {
		finish()
		return
	}
	var failed error
	b.list(func(m member) bool {
		if r.Context().Err() != nil {
			return false
		}
		data, _, err := b.get(m.path(), v4)
		if err != nil {
			failed = err
			return true
		}
		out.Write(data)
		return true
	})
	if err := finish(); err != nil {
		s.log.Debug("export ended early", "book", b.id(), "err", err)
	}
	if failed != nil {
		s.log.Error("export left out cards it could not read", "book", b.id(), "err", failed)
	}
}
