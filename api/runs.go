package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/orgdav/orgdav/runner"
	"github.com/orgdav/orgdav/store"
)

// Runner is what the runs resource needs of the directory runs.
type Runner interface {
	Run(ctx context.Context, name, trigger string, confirm bool) (store.Run, error)
	RunAll(ctx context.Context, trigger string, confirm bool) []store.Run
	Runs(source string, n int) ([]store.Run, error)
}

var _ Runner = (*runner.Runner)(nil)

// mountRuns serves the directory runs:
//
//	POST /api/v1/sync?source=NAME&confirm=true   run one source (or all) now
//	GET  /api/v1/runs?source=NAME&n=20           recent runs, newest first
func (a *API) mountRuns(mux *http.ServeMux) {
	mux.HandleFunc("POST "+Prefix+"sync", a.handle(func(r *http.Request) (any, error) {
		q := r.URL.Query()
		confirm, err := boolParam(q.Get("confirm"), "confirm")
		if err != nil {
			return nil, err
		}
		if name := q.Get("source"); name != "" {
			run, err := a.Runs.Run(r.Context(), name, runner.TriggerManual, confirm)
			if errors.Is(err, runner.ErrUnknownSource) {
				return nil, &Error{Status: http.StatusNotFound, Field: "source", Message: err.Error()}
			}
			return []store.Run{run}, nil
		}
		return a.Runs.RunAll(r.Context(), runner.TriggerManual, confirm), nil
	}))
	mux.HandleFunc("GET "+Prefix+"runs", a.handle(func(r *http.Request) (any, error) {
		q := r.URL.Query()
		n := 20
		if s := q.Get("n"); s != "" {
			v, err := strconv.Atoi(s)
			if err != nil || v < 1 || v > store.MaxRuns {
				return nil, &Error{Status: http.StatusBadRequest, Field: "n", Message: "want 1 to " + strconv.Itoa(store.MaxRuns)}
			}
			n = v
		}
		runs, err := a.Runs.Runs(q.Get("source"), n)
		if runs == nil && err == nil {
			runs = []store.Run{}
		}
		return runs, err
	}))
}

func boolParam(v, field string) (bool, error) {
	switch v {
	case "", "0", "false":
		return false, nil
	case "1", "true":
		return true, nil
	}
	return false, &Error{Status: http.StatusBadRequest, Field: field, Message: "want true or false"}
}
