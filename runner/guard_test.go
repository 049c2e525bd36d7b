package runner

import (
	"context"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orgdav/orgdav/directory"
	"github.com/orgdav/orgdav/store"
)

// guarded is a runner over an incremental source of 100 people with the
// default guard (10% within 24h) and a clock the test moves.
type guarded struct {
	t    *testing.T
	path string
	now  time.Time
	st   *store.Store
	src  *incSource
	r    *Runner
	spec Spec
}

func newGuarded(t *testing.T) *guarded {
	g := &guarded{t: t, path: filepath.Join(t.TempDir(), "db"), now: time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)}
	g.src = &incSource{snapSource: snapSource{snap: directory.Snapshot{Source: "corp", People: people(100)}}}
	g.spec = Spec{Source: g.src, MaxRemovalShare: 0.1, RemovalWindow: 24 * time.Hour}
	g.open()
	if run, err := g.r.Run(context.Background(), "corp", TriggerStartup, false); err != nil || run.Result != store.RunApplied {
		t.Fatalf("first run: %+v %v", run, err)
	}
	return g
}

// open opens the store and a runner on it, as a (re)started server does.
func (g *guarded) open() {
	st, err := store.Open(g.path, store.Options{Now: func() time.Time { return g.now }})
	if err != nil {
		g.t.Fatal(err)
	}
	g.t.Cleanup(func() { st.Close() })
	g.st = st
	g.r = New(st, []Spec{g.spec}, slog.New(slog.DiscardHandler), nil)
	g.r.Now = func() time.Time { return g.now }
}

func (g *guarded) restart() {
	g.st.Close()
	g.open()
}

// incremental runs what the source says changed, as a push or poll does.
func (g *guarded) incremental() store.Run {
	run, _, err := g.r.RunChanges(context.Background(), "corp", true)
	if err != nil {
		g.t.Fatal(err)
	}
	return run
}

func (g *guarded) full(confirm bool) store.Run {
	run, err := g.r.Run(context.Background(), "corp", TriggerSchedule, confirm)
	if err != nil {
		g.t.Fatal(err)
	}
	return run
}

// drop removes the last n people from the directory, as a full read sees it.
func (g *guarded) drop(n int) {
	g.src.snap.People = append([]directory.Person(nil), g.src.snap.People[:len(g.src.snap.People)-n]...)
}

func TestRemovalsAddUpAcrossRunsWithinTheWindow(t *testing.T) {
	cases := []struct {
		name  string
		steps func(g *guarded) (results []string)
		want  string // results of the steps, then people published
	}{
		{"pushed batches under the share each are held once their sum passes it", func(g *guarded) []string {
			return []string{g.incrementalLeave(4), g.incrementalLeave(4), g.incrementalLeave(4), g.incrementalLeave(1)}
		}, "applied applied held held 92"},
		{"a held removal is not lost: confirming applies it, and counting starts afresh", func(g *guarded) []string {
			return []string{g.incrementalLeave(6), g.incrementalLeave(6), g.full(true).Result, g.incrementalLeave(8)}
		}, "applied held applied applied 80"},
		{"other changes while a removal is held wait with it", func(g *guarded) []string {
			g.incrementalLeave(6)
			held := g.incrementalLeave(6)
			g.src.edit(0, false, func(p *directory.Person) { p.Title = "New title" })
			return []string{held, g.incremental().Result}
		}, "held held 94"},
		{"full runs add up too", func(g *guarded) []string {
			g.drop(6)
			first := g.full(false).Result
			g.drop(6)
			return []string{first, g.full(false).Result}
		}, "applied held 94"},
		{"removals older than the window do not count", func(g *guarded) []string {
			first := g.incrementalLeave(8)
			g.now = g.now.Add(25 * time.Hour)
			return []string{first, g.incrementalLeave(8)}
		}, "applied applied 84"},
		{"a hold does not expire as the window slides past the removals before it", func(g *guarded) []string {
			first := g.incrementalLeave(8)
			g.now = g.now.Add(time.Hour)
			held := g.incrementalLeave(8)
			g.now = g.now.Add(30 * time.Hour)
			return []string{first, held, g.full(false).Result}
		}, "applied held held 92"},
		{"people coming back release a hold", func(g *guarded) []string {
			g.incrementalLeave(8)
			all := g.src.snap.People
			held := g.incrementalLeave(8)
			g.src.snap.People = all
			return []string{held, g.full(false).Result, g.incrementalLeave(1)}
		}, "held unchanged applied 91"},
		{"the sum survives a restart", func(g *guarded) []string {
			first := g.incrementalLeave(8)
			g.restart()
			g.drop(4)
			return []string{first, g.full(false).Result}
		}, "applied held 92"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := newGuarded(t)
			got := strings.Join(append(c.steps(g), strconv.Itoa(g.st.Stats().People)), " ")
			if got != c.want {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
}

// incrementalLeave removes the last n people as a pushed or polled delta
// and runs it.
func (g *guarded) incrementalLeave(n int) string {
	g.src.leave(n)
	return g.incremental().Result
}

func TestAHeldRunSaysWhatAddsUpAndHowToConfirm(t *testing.T) {
	g := newGuarded(t)
	g.incrementalLeave(6)
	g.src.leave(6)
	run := g.incremental()
	for _, want := range []string{"would remove 6 of 94 people", "with the 6 removed since", "12 of 100 (12%)", "max_removal_share", "removal_window (24h0m0s)"} {
		if !strings.Contains(run.Note, want) {
			t.Errorf("note %q lacks %q", run.Note, want)
		}
	}
	if held, _ := g.st.HeldSince("corp"); !held.Equal(g.now) {
		t.Errorf("held since %v, want %v", held, g.now)
	}
}

func TestAHeldSourceIsReconsideredOncePerIncrementalIntervalNotPerChange(t *testing.T) {
	g := newGuarded(t)
	g.r.specs["corp"].Incremental = time.Hour
	g.incrementalLeave(8)
	if got := g.incrementalLeave(8); got != store.RunHeld {
		t.Fatalf("second batch: %q", got)
	}
	// Pushed changes keep coming: none normalises the whole source again.
	for i := 0; i < 5; i++ {
		g.src.wholes = 0
		if got := g.incrementalLeave(1); got != "" || g.src.wholes != 0 {
			t.Fatalf("change %d while held: run %q, %d whole reads", i, got, g.src.wholes)
		}
	}
	runs, _ := g.st.Runs("corp", 100)
	if len(runs) != 3 {
		t.Fatalf("%d runs logged, want the startup, the applied and the held one", len(runs))
	}
	// The next full run counts them all; a confirmation applies them all.
	if run := g.full(false); run.Result != store.RunHeld || !strings.Contains(run.Note, "would remove 13 of 92") {
		t.Fatalf("full run while held: %s %q", run.Result, run.Note)
	}
	if run := g.full(true); run.Result != store.RunApplied || g.st.Stats().People != 79 {
		t.Fatalf("confirmed: %s, %d people", run.Result, g.st.Stats().People)
	}
}
