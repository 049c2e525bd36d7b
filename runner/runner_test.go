package runner

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/orgdav/orgdav/directory"
	"github.com/orgdav/orgdav/store"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// snapSource serves a snapshot the test controls, or an error.
type snapSource struct {
	snap directory.Snapshot
	err  error
}

func (s *snapSource) Name() string { return "corp" }
func (s *snapSource) Snapshot(ctx context.Context) (directory.Snapshot, error) {
	return s.snap, s.err
}

func people(n int) []directory.Person {
	var out []directory.Person
	for i := 0; i < n; i++ {
		out = append(out, directory.Person{ID: string(rune('a'+i%26)) + strings.Repeat("x", i/26), DisplayName: "P"})
	}
	return out
}

func setup(t *testing.T, draft bool) (*Runner, *snapSource, *store.Store) {
	st, err := store.Open(filepath.Join(t.TempDir(), "db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	src := &snapSource{snap: directory.Snapshot{Source: "corp", People: people(100)}}
	return New(st, []Spec{{Source: src, Draft: draft, MaxRemovalShare: 0.1}}, slog.New(slog.DiscardHandler), nil), src, st
}

func TestRunsAreSafe(t *testing.T) {
	r, src, st := setup(t, false)
	ctx := context.Background()
	cases := []struct {
		name    string
		change  func()
		confirm bool
		result  string
		people  int
	}{
		{"first run applies", func() {}, false, store.RunApplied, 100},
		{"same directory is unchanged", func() {}, false, store.RunUnchanged, 100},
		{"failed read changes nothing", func() { src.err = errors.New("ldap: connect: refused") }, false, store.RunFailed, 100},
		{"removing 5% applies", func() { src.err = nil; src.snap.People = people(95) }, false, store.RunApplied, 95},
		{"removing 50% is held", func() { src.snap.People = people(47) }, false, store.RunHeld, 95},
		{"no people is held", func() { src.snap.People = nil }, false, store.RunHeld, 95},
		{"confirmed mass removal applies", func() { src.snap.People = people(47) }, true, store.RunApplied, 47},
	}
	for _, c := range cases {
		c.change()
		run, _ := r.Run(ctx, "corp", TriggerManual, c.confirm)
		if run.Result != c.result || st.Stats().People != c.people {
			t.Fatalf("%s: result %s (%s %s), people %d; want %s, %d", c.name, run.Result, run.Note, run.Error, st.Stats().People, c.result, c.people)
		}
	}
	runs, _ := st.Runs("corp", 100)
	if len(runs) != len(cases) || runs[0].Note != "confirmed by an admin" || runs[2].Result != store.RunHeld || !strings.Contains(runs[2].Note, "would remove 48 of 95") {
		t.Fatalf("run log: %+v", runs)
	}
	if _, err := r.Run(ctx, "nope", TriggerManual, false); !errors.Is(err, ErrUnknownSource) {
		t.Fatalf("unknown source: %v", err)
	}
}

func TestDraftSourceIsNeverApplied(t *testing.T) {
	r, _, st := setup(t, true)
	run, _ := r.Run(context.Background(), "corp", TriggerManual, true)
	if run.Result != store.RunDraft || st.Stats().People != 0 || run.Published != 100 {
		t.Fatalf("draft: %+v, people %d", run, st.Stats().People)
	}
}

func TestRunLogIsBounded(t *testing.T) {
	r, _, st := setup(t, false)
	for i := 0; i < store.MaxRuns+5; i++ {
		r.Run(context.Background(), "corp", TriggerSchedule, false)
	}
	runs, _ := st.Runs("", store.MaxRuns*2)
	if len(runs) != store.MaxRuns || runs[0].ID != store.MaxRuns+5 {
		t.Fatalf("kept %d runs, newest %d", len(runs), runs[0].ID)
	}
}

func TestMemoryIsReleasedAfterEveryFullRun(t *testing.T) {
	r, src, _ := setup(t, false)
	calls := 0
	r.After = func(alone bool) {
		if !alone {
			t.Error("a run with no other in progress was told it is not alone")
		}
		calls++
	}
	ctx := context.Background()
	r.Run(ctx, "corp", TriggerStartup, false)  // applied
	r.Run(ctx, "corp", TriggerSchedule, false) // unchanged: still a full read's garbage
	src.err = errors.New("down")
	r.Run(ctx, "corp", TriggerSchedule, false) // failed
	if calls != 3 {
		t.Fatalf("After called %d times for 3 full runs", calls)
	}
}

// incSource is an incremental source whose changes the test sets: each
// edit updates the whole snapshot and, when delta is set, comes as a delta.
type incSource struct {
	snapSource
	pending *directory.Delta
	changed bool
	wholes  int // times the whole snapshot was read for an incremental run
}

func (s *incSource) Changes(ctx context.Context, sweep bool) (*directory.Delta, bool, error) {
	d, ch := s.pending, s.changed
	s.pending, s.changed = nil, false
	return d, ch, s.err
}

func (s *incSource) Current() directory.Snapshot { s.wholes++; return s.snap }

// edit changes person i of the snapshot, as a delta unless whole.
func (s *incSource) edit(i int, whole bool, fn func(p *directory.Person)) {
	old := s.snap.People[i]
	s.snap.People = append([]directory.Person(nil), s.snap.People...)
	fn(&s.snap.People[i])
	s.changed = true
	if !whole {
		s.pending = &directory.Delta{Source: "corp", Changed: []directory.PersonChange{{Old: old, New: s.snap.People[i]}}}
	}
}

// leave removes the last n people of the snapshot, as a delta.
func (s *incSource) leave(n int) (ids []string) {
	keep := len(s.snap.People) - n
	d := &directory.Delta{Source: "corp", Removed: append([]directory.Person(nil), s.snap.People[keep:]...)}
	for _, p := range d.Removed {
		ids = append(ids, p.ID)
	}
	s.snap.People = append([]directory.Person(nil), s.snap.People[:keep]...)
	s.pending, s.changed = d, true
	return ids
}

func TestIncrementalRunsPublishDeltasAloneAndFallBackToTheWholeSource(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	src := &incSource{snapSource: snapSource{snap: directory.Snapshot{Source: "corp", People: people(100)}}}
	r := New(st, []Spec{{Source: src, MaxRemovalShare: 0.1}}, slog.New(slog.DiscardHandler), nil)
	ctx := context.Background()
	title := func(i int) string {
		e, err := st.Person(directory.CardUID(directory.PersonKey("corp", src.snap.People[i].ID)))
		if err != nil {
			return "gone"
		}
		return e.Title
	}
	published := func(id string) bool {
		_, err := st.Person(directory.CardUID(directory.PersonKey("corp", id)))
		return err == nil
	}
	var left []string
	cases := []struct {
		name   string
		change func()
		wholes int // whole snapshots read by the incremental run
		result string
		check  func() bool
	}{
		{"a title edit is published alone", func() { src.edit(3, false, func(p *directory.Person) { p.Title = "Boss" }) }, 0, store.RunApplied,
			func() bool { return title(3) == "Boss" }},
		{"no change runs nothing", func() {}, 0, "", func() bool { return true }},
		{"hiding someone takes the whole source", func() { src.edit(4, false, func(p *directory.Person) { p.Hidden = true }) }, 1, store.RunApplied,
			func() bool { return title(4) == "gone" }},
		{"a change the source cannot express as a delta", func() { src.edit(5, true, func(p *directory.Person) { p.Title = "Whole" }) }, 1, store.RunApplied,
			func() bool { return title(5) == "Whole" }},
		{"a failed read changes nothing", func() { src.err = errors.New("ldap: down"); src.changed = true }, 0, store.RunFailed,
			func() bool { src.err = nil; return true }},
		{"deltas follow a fallback", func() { src.edit(6, false, func(p *directory.Person) { p.Title = "Again" }) }, 0, store.RunApplied,
			func() bool { return title(6) == "Again" }},
		{"a leaver is removed alone", func() { left = src.leave(1) }, 0, store.RunApplied,
			func() bool { return !published(left[0]) && st.Stats().People == 98 }},
		{"many leaving at once is held", func() { left = src.leave(20) }, 1, store.RunHeld,
			func() bool { return published(left[0]) && st.Stats().People == 98 }},
	}
	if run, err := r.Run(ctx, "corp", TriggerStartup, false); err != nil || run.Result != store.RunApplied {
		t.Fatalf("first run: %+v %v", run, err)
	}
	for _, c := range cases {
		c.change()
		src.wholes = 0
		run, ran, _ := r.RunChanges(ctx, "corp", false)
		if ran != (c.result != "") || run.Result != c.result || src.wholes != c.wholes || !c.check() {
			t.Fatalf("%s: ran %v, result %q (%s), whole reads %d; want %q, %d", c.name, ran, run.Result, run.Error, src.wholes, c.result, c.wholes)
		}
	}
}

func TestGCTargetIsLoweredWhileRunsHoldItAndRestoredAfter(t *testing.T) {
	current := func() int {
		p := debug.SetGCPercent(-1)
		debug.SetGCPercent(p)
		return p
	}
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	var g gcTarget
	read := g.hold(50)
	apply := g.hold(25)
	if current() != 25 {
		t.Fatalf("two holders: GOGC %d, want the lower 25", current())
	}
	apply()
	if current() != 50 {
		t.Fatalf("one holder left: GOGC %d, want 50", current())
	}
	read()
	if current() != 100 {
		t.Fatalf("no holder: GOGC %d, want the process's 100", current())
	}
	debug.SetGCPercent(10)
	g.hold(50)()
	if current() != 10 {
		t.Fatalf("a lower process target was raised to %d", current())
	}
}

func TestServingMemoryLimitIsLiftedWhileRunsHoldTheCollector(t *testing.T) {
	limit := func() int64 { return debug.SetMemoryLimit(-1) }
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(96 << 20))
	for _, tc := range []struct {
		name   string
		fixed  bool
		during int64
	}{
		{"the configured limit", false, math.MaxInt64},
		{"a GOMEMLIMIT the operator set", true, 96 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := gcTarget{fixedLimit: tc.fixed}
			read := g.hold(50)
			apply := g.hold(25)
			if limit() != tc.during {
				t.Fatalf("during a run the memory limit is %d, want %d", limit(), tc.during)
			}
			apply()
			if limit() != tc.during {
				t.Fatalf("with one holder left the memory limit is %d, want %d", limit(), tc.during)
			}
			read()
			if limit() != 96<<20 {
				t.Fatalf("after the runs the memory limit is %d, want the serving 96 MiB back", limit())
			}
		})
	}
}

func TestServingLimitSetDuringARunTakesEffectWhenTheLastRunEnds(t *testing.T) {
	limit := func() int64 { return debug.SetMemoryLimit(-1) }
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(96 << 20))
	var g gcTarget
	a := g.hold(50)
	b := g.hold(50)
	if g.alone() {
		t.Fatal("two runs in progress, yet one is alone")
	}
	g.setLimit(200 << 20)
	if limit() != math.MaxInt64 {
		t.Fatalf("a serving limit set during runs applied at once: %d", limit())
	}
	a()
	if !g.alone() || limit() != math.MaxInt64 {
		t.Fatalf("one run still in progress: alone %v, limit %d", g.alone(), limit())
	}
	b()
	if limit() != 200<<20 {
		t.Fatalf("after the last run the limit is %d, want the 200 MiB set during the runs", limit())
	}
	g.setLimit(150 << 20)
	if limit() != 150<<20 {
		t.Fatalf("with no run in progress the limit is %d, want 150 MiB at once", limit())
	}
	fixed := gcTarget{fixedLimit: true}
	fixed.setLimit(1 << 20)
	if limit() != 150<<20 {
		t.Fatal("a GOMEMLIMIT the operator set was replaced")
	}
}

func TestAFailedRunLogsNoCounts(t *testing.T) {
	var logs strings.Builder
	st, err := store.Open(filepath.Join(t.TempDir(), "db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	src := &snapSource{err: errors.New("ldap: connect: refused")}
	r := New(st, []Spec{{Source: src, MaxRemovalShare: 0.1}}, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	r.Run(context.Background(), "corp", TriggerStartup, false)
	if l := logs.String(); !strings.Contains(l, "directory run failed") || strings.Contains(l, "published=") || strings.Contains(l, "seen=") {
		t.Fatalf("log: %s", l)
	}
}

func TestPollsCountOnceAndAQuietOneShowsTheSourceIsBack(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg := prometheus.NewRegistry()
	src := &incSource{snapSource: snapSource{snap: directory.Snapshot{Source: "corp", People: people(10)}}}
	r := New(st, []Spec{{Source: src, MaxRemovalShare: 0.1}}, slog.New(slog.DiscardHandler), reg)
	ctx := context.Background()
	r.Run(ctx, "corp", TriggerStartup, false)
	lastSuccess := func() float64 {
		return testutil.ToFloat64(r.metrics.lastSuccess.WithLabelValues("corp"))
	}
	r.metrics.lastSuccess.WithLabelValues("corp").Set(0)
	src.err = errors.New("ldap: connect: refused")
	r.poll(ctx, "corp")
	r.poll(ctx, "corp")
	runs, _ := st.Runs("corp", 10)
	if failed := testutil.ToFloat64(r.metrics.runs.WithLabelValues("corp", store.RunFailed)); len(runs) != 3 || failed != 2 || lastSuccess() != 0 {
		t.Fatalf("two failed polls: %d runs logged (want 1 + 2), %v counted failed (want 2), last success %v", len(runs), failed, lastSuccess())
	}
	src.err = nil
	r.poll(ctx, "corp")
	if runs, _ := st.Runs("corp", 10); len(runs) != 3 || lastSuccess() == 0 {
		t.Fatalf("a quiet poll after the outage: %d runs logged, last success %v", len(runs), lastSuccess())
	}
}
