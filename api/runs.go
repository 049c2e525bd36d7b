package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/orgdav/orgdav/directory"
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
func (a *API) mountRuns() {
	a.route("POST "+Prefix+"sync", a.handle(func(r *http.Request) (any, error) {
		q := r.URL.Query()
		confirm, err := boolParam(q.Get("confirm"), "confirm")
		if err != nil {
			return nil, err
		}
		before := a.peopleBySource()
		var runs []store.Run
		if name := q.Get("source"); name != "" {
			run, err := a.opt.Runs.Run(r.Context(), name, runner.TriggerManual, confirm)
			if errors.Is(err, runner.ErrUnknownSource) {
				return nil, &Error{Status: http.StatusNotFound, Field: "source", Message: err.Error()}
			}
			runs = []store.Run{run}
		} else {
			runs = a.opt.Runs.RunAll(r.Context(), runner.TriggerManual, confirm)
		}
		action := "sync"
		if confirm {
			action = "confirm"
		}
		after := a.peopleBySource()
		for _, run := range runs {
			a.audit(r, store.AuditEntry{Action: action, Target: "source " + run.Source,
				Before: before[run.Source], After: after[run.Source], Note: run.Result})
		}
		return runs, nil
	}))
	a.route("GET "+Prefix+"runs", a.handle(func(r *http.Request) (any, error) {
		n, err := countParam(r, 20, store.MaxRuns)
		if err != nil {
			return nil, err
		}
		runs, err := a.opt.Runs.Runs(r.URL.Query().Get("source"), n)
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

// peopleBySource counts the published people of each source: what the
// audit log reports before and after a run.
func (a *API) peopleBySource() map[string]int {
	n := map[string]int{}
	ix := a.opt.Store.Index()
	for i := range ix.Items {
		if it := &ix.Items[i]; it.Kind == store.KindPerson {
			n[directory.SourceOf(it.Key)]++
		}
	}
	return n
}
