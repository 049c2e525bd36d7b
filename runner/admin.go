package runner

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/orgdav/orgdav/store"
)

// Handler is the admin API the CLI talks to while the server runs (the
// server holds the database, which one process opens at a time):
//
//	POST /sync?source=NAME&confirm=1   run one source (or all) now
//	GET  /runs?source=NAME&n=20        recent runs, newest first
func (r *Runner) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /sync", func(w http.ResponseWriter, req *http.Request) {
		q := req.URL.Query()
		confirm := q.Get("confirm") == "1"
		var runs []store.Run
		if name := q.Get("source"); name != "" {
			run, err := r.Run(req.Context(), name, TriggerManual, confirm)
			if errors.Is(err, ErrUnknownSource) {
				http.Error(w, err.Error(), http.StatusNotFound)
				return
			}
			runs = append(runs, run)
		} else {
			runs = r.RunAll(req.Context(), TriggerManual, confirm)
		}
		writeJSON(w, runs)
	})
	mux.HandleFunc("GET /runs", func(w http.ResponseWriter, req *http.Request) {
		n, err := strconv.Atoi(req.URL.Query().Get("n"))
		if err != nil || n <= 0 || n > store.MaxRuns {
			n = 20
		}
		runs, err := r.st.Runs(req.URL.Query().Get("source"), n)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, runs)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
