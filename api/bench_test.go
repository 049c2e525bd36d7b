package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orgdav/orgdav/runner"
	"github.com/orgdav/orgdav/store"
)

// outlookRows is an Outlook export of n contacts, as the product writes it.
func outlookRows(n int) string {
	var sb strings.Builder
	sb.WriteString("First Name,Middle Name,Last Name,Company,Department,Job Title,Business Street,Business City,Business Postal Code,Business Country/Region,Business Phone,Mobile Phone,E-mail Address,E-mail 2 Address,Notes\r\n")
	for i := range n {
		fmt.Fprintf(&sb, "Given%d,,Family%d,Supplier %d Ltd,Sales,Account Manager,\"%d Main Street\r\nBuilding %d\",Springfield,%05d,USA,+1 555 %07d,+1 555 9%06d,contact%d@supplier%d.example,alt%d@supplier%d.example,\"Met at the fair, %d\"\r\n",
			i, i, i%500, i, i%7, i%100000, i, i, i, i%500, i, i%500, i)
	}
	return sb.String()
}

// BenchmarkImportCSV20k imports 20,000 Outlook rows into a new list: the
// plan, the checks and the one transaction that stores them.
func BenchmarkImportCSV20k(b *testing.B) {
	st, err := store.Open(filepath.Join(b.TempDir(), "db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	r := runner.New(st, []runner.Spec{{Source: source{}, MaxRemovalShare: 0.1}}, slog.New(slog.DiscardHandler), nil)
	if _, err := r.Run(context.Background(), "corp", runner.TriggerStartup, false); err != nil {
		b.Fatal(err)
	}
	h := New(Options{Runs: r, Store: st}).Local()
	file := outlookRows(20000)
	i := 0
	for b.Loop() {
		i++
		l := &store.List{Name: fmt.Sprintf("Import %d", i)}
		if err := st.CreateList(l); err != nil {
			b.Fatal(err)
		}
		req := httptest.NewRequest("POST", "/api/v1/lists/"+l.ID+"/import", strings.NewReader(file))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"created":20000`) {
			b.Fatalf("%d %.300s", w.Code, w.Body.String())
		}
	}
	b.ReportMetric(float64(len(file))/1e6, "file-MB")
}
