package api

import (
	"net/http"
	"strconv"

	"github.com/orgdav/orgdav/store"
)

// mountAudit serves the audit log:
//
//	GET /api/v1/audit?n=50   recent admin changes, newest first
func (a *API) mountAudit() {
	a.route("GET "+Prefix+"audit", a.handle(func(r *http.Request) (any, error) {
		n, err := countParam(r, 50, store.MaxAudit)
		if err != nil {
			return nil, err
		}
		return a.opt.Store.AuditLog(n)
	}))
}

// countParam reads the n query parameter: how many entries to return.
func countParam(r *http.Request, def, most int) (int, error) {
	s := r.URL.Query().Get("n")
	if s == "" {
		return def, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 || v > most {
		return 0, &Error{Status: http.StatusBadRequest, Field: "n", Message: "want 1 to " + strconv.Itoa(most)}
	}
	return v, nil
}
