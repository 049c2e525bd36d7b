// Package api is orgdav's JSON admin API, one file per resource, shared by
// the CLI (over the data directory's Unix socket) and, as they come, the
// web console and remote admins. Handlers return errors; one function maps
// them to a status and a JSON body naming the field at fault.
package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
)

// Prefix is where the API lives.
const Prefix = "/api/v1/"

// API serves the admin routes over what it is given.
type API struct {
	Runs Runner
	Log  *slog.Logger
}

// Mount adds the API's routes to mux.
func (a *API) Mount(mux *http.ServeMux) {
	a.mountRuns(mux)
}

// Error is an API error: the status, what is wrong, and the field (a
// query parameter or a JSON key) at fault, if one is.
type Error struct {
	Status  int    `json:"-"`
	Message string `json:"error"`
	Field   string `json:"field,omitempty"`
}

func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

// handle adapts a handler that returns its result or an error.
func (a *API) handle(fn func(r *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := fn(r)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		if a.Log != nil {
			a.Log.Error("admin API request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		e = &Error{Status: http.StatusInternalServerError, Message: "internal error: " + err.Error()}
	}
	writeJSON(w, e.Status, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
