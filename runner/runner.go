// Package runner reads directory sources on schedule and on demand and
// applies their snapshots to the store safely: a failed read changes
// nothing, a run that would remove too many people is held for an admin,
// and every run is logged.
package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/orgdav/orgdav/directory"
	"github.com/orgdav/orgdav/store"
	"github.com/prometheus/client_golang/prometheus"
)

// Source reads one directory's snapshot: the demo organisation or an LDAP
// or AD server.
type Source interface {
	Name() string
	Snapshot(ctx context.Context) (directory.Snapshot, error)
}

// Spec is a source with how it is run.
type Spec struct {
	Source Source
	// Draft sources are read for previews and never applied.
	Draft bool
	// Interval between scheduled full runs; zero runs only at start and on
	// demand.
	Interval time.Duration
	// Incremental is the interval between incremental runs of a source that
	// can read just its changes; zero turns them off.
	Incremental time.Duration
	// MaxRemovalShare holds runs whose removals, with those of the runs
	// before them within RemovalWindow, add up to more than this share of
	// the source's published people.
	MaxRemovalShare float64
	RemovalWindow   time.Duration
}

// Incremental sources read just what changed since their last read.
type Incremental interface {
	// Changes reads what changed and reports whether anything did. When
	// the change fits a directory.Delta (edits, joiners, leavers) it
	// returns one, else nil, and the run publishes Current. A sweep also
	// looks for what left the source, which costs a listing of everyone on
	// servers that do not report deletions.
	Changes(ctx context.Context, sweep bool) (*directory.Delta, bool, error)
	// Current is the whole snapshot as of the last read.
	Current() directory.Snapshot
}

// Watcher sources follow changes the server pushes; Watch blocks until ctx
// ends or the stream breaks, calls opened once the server has answered the
// stream and notify when changes wait.
type Watcher interface {
	Watch(ctx context.Context, opened, notify func()) error
}

// Triggers say why a run happened.
const (
	TriggerStartup     = "startup"
	TriggerSchedule    = "schedule"
	TriggerManual      = "manual"
	TriggerIncremental = "incremental"
)

// Imported reports whether a run of the source has been applied since the
// runner started: until then its people may not be in the store yet.
func (r *Runner) Imported(name string) bool {
	sr := r.runs[name]
	return sr != nil && sr.imported.Load()
}

// Runs returns up to n recent runs of a source, or of all (""), newest
// first.
func (r *Runner) Runs(source string, n int) ([]store.Run, error) { return r.st.Runs(source, n) }

// GroupFinder sources can tell which group a DN names.
type GroupFinder interface {
	GroupID(dn string) (string, bool)
}

// GroupKey returns the key of the group a DN names in any source, as of
// its last read; the first source by name wins.
func (r *Runner) GroupKey(dn string) (string, bool) {
	for _, name := range r.names {
		sp := r.specs[name]
		if f, ok := sp.Source.(GroupFinder); ok && !sp.Draft {
			if id, ok := f.GroupID(dn); ok {
				return directory.GroupKey(sp.Source.Name(), id), true
			}
		}
	}
	return "", false
}

// ErrUnknownSource is returned for a source name not in the config.
var ErrUnknownSource = errors.New("unknown source")

// Runner runs sources; one run per source at a time.
type Runner struct {
	st      *store.Store
	specs   map[string]*Spec
	names   []string
	runs    map[string]*sourceRuns
	log     *slog.Logger
	metrics *metrics
	// After is called after each full run (e.g. to release memory), while
	// the run still holds the collector (see gc). alone reports that no
	// other source's full run is in progress, so the hook may add to the
	// heap without adding to another run's peak.
	After func(alone bool)
	// Now is the clock of the removal guard; nil means time.Now.
	Now func() time.Time
}

// sourceRuns is what the runner keeps of one source between runs.
type sourceRuns struct {
	mu sync.Mutex // one run at a time
	// prior is what the store holds of an incremental source, as the
	// source's last read produced it, so a delta can be published alone.
	// It is dropped whenever the two might differ.
	prior *directory.Published
	// stale marks a source read but not applied (the store failed): its
	// next incremental run publishes the whole snapshot even when nothing
	// new changed.
	stale bool
	// heldAt is when the source's last run was held (zero: it was not).
	// While held, every change means normalising the whole source again
	// to be held again: incremental runs do that at most once per
	// incremental interval, and recheck marks changes read since.
	heldAt  time.Time
	recheck bool
	// imported is set once a run of the source has been applied.
	imported atomic.Bool
}

// New builds a runner.
func New(st *store.Store, specs []Spec, log *slog.Logger, reg prometheus.Registerer) *Runner {
	r := &Runner{st: st, specs: map[string]*Spec{}, runs: map[string]*sourceRuns{}, log: log, metrics: newMetrics(reg)}
	for i := range specs {
		sp := &specs[i]
		r.specs[sp.Source.Name()] = sp
		r.runs[sp.Source.Name()] = &sourceRuns{}
		r.names = append(r.names, sp.Source.Name())
	}
	sort.Strings(r.names)
	return r
}

// RunAll runs every source in name order.
func (r *Runner) RunAll(ctx context.Context, trigger string, confirm bool) []store.Run {
	var out []store.Run
	for _, n := range r.names {
		run, _ := r.Run(ctx, n, trigger, confirm)
		out = append(out, run)
	}
	return out
}

// Run reads one source and applies its snapshot unless the run is held.
// confirm applies a run that would otherwise be held.
func (r *Runner) Run(ctx context.Context, name, trigger string, confirm bool) (store.Run, error) {
	sp, ok := r.specs[name]
	if !ok {
		return store.Run{}, fmt.Errorf("%w %q (known: %v)", ErrUnknownSource, name, r.names)
	}
	sr := r.runs[name]
	sr.mu.Lock()
	// The full read replaces it; keeping it would only add to the read's
	// peak memory.
	sr.prior = nil
	release := gc.hold(readGC)
	run := store.Run{Source: name, Trigger: trigger, Start: time.Now()}
	snap, err := sp.Source.Snapshot(ctx)
	if err == nil {
		err = r.apply(sp, sr, snap, &run, confirm)
	}
	r.finish(&run, err)
	sr.mu.Unlock()
	// A full read leaves its garbage whether or not anything changed.
	if r.After != nil {
		r.After(gc.alone())
	}
	release()
	return run, err
}

// RunChanges runs an incremental source's changes, and with sweep what
// left it too; a run that finds none is not logged. It reports whether a
// run happened. A change that fits a delta is published alone, at a cost
// that follows its size; anything else publishes the source's whole
// snapshot.
func (r *Runner) RunChanges(ctx context.Context, name string, sweep bool) (store.Run, bool, error) {
	sp, ok := r.specs[name]
	if !ok {
		return store.Run{}, false, fmt.Errorf("%w %q", ErrUnknownSource, name)
	}
	inc, ok := sp.Source.(Incremental)
	if !ok {
		return store.Run{}, false, fmt.Errorf("source %q cannot read changes alone", name)
	}
	sr := r.runs[name]
	sr.mu.Lock()
	defer sr.mu.Unlock()
	run := store.Run{Source: name, Trigger: TriggerIncremental, Start: time.Now()}
	d, changed, err := inc.Changes(ctx, sweep)
	if err == nil && !changed && !sr.stale && !sr.recheck {
		if sweep {
			// Not logged, but a sweep reached the server: after an outage
			// this shows the source is back before anything changes.
			r.metrics.lastSuccess.WithLabelValues(name).SetToCurrentTime()
		}
		return run, false, nil
	}
	if err == nil && !sr.heldAt.IsZero() && time.Since(sr.heldAt) < sp.Incremental {
		sr.recheck = true
		return run, false, nil
	}
	sr.recheck = false
	if err == nil {
		err = r.applyChanges(sp, sr, inc, d, &run)
	}
	r.finish(&run, err)
	return run, true, err
}

func (r *Runner) applyChanges(sp *Spec, sr *sourceRuns, inc Incremental, d *directory.Delta, run *store.Run) error {
	whole := func() error { return r.apply(sp, sr, inc.Current(), run, false) }
	if d == nil || sr.prior == nil || sr.stale {
		return whole()
	}
	ch, err := sr.prior.Patch(d)
	switch {
	case errors.Is(err, directory.ErrNeedsFull):
		return whole()
	case err != nil:
		return err
	case len(ch.RemovedPeople) > 0:
		// Many people leaving is what a broken scope or an accident looks
		// like: the whole-source path holds the run.
		reason, err := r.holdRemovals(sp, len(ch.RemovedPeople), len(sr.prior.People))
		if err != nil {
			return err
		}
		if reason != "" {
			return whole()
		}
	}
	run.Seen = len(d.Changed) + len(d.Removed)
	r.countSkips(sp, ch.Skipped, run)
	res, err := r.st.ApplyChange(ch)
	if err != nil {
		sr.prior, sr.stale = nil, true
		return err
	}
	sr.prior.Commit(ch)
	run.Published = len(sr.prior.People)
	r.counts(res, run)
	return nil
}

// finish records, counts and logs a run.
func (r *Runner) finish(run *store.Run, err error) {
	run.End = time.Now()
	if err != nil {
		run.Result, run.Error = store.RunFailed, err.Error()
	}
	if rerr := r.st.RecordRun(run); rerr != nil {
		r.log.Error("recording run failed", "source", run.Source, "err", rerr)
	}
	r.metrics.observe(run)
	took := run.End.Sub(run.Start).Round(time.Millisecond)
	attrs := []any{"source", run.Source, "trigger", run.Trigger, "result", run.Result, "seen", run.Seen, "published", run.Published,
		"added", run.Added, "updated", run.Updated, "removed", run.Removed, "skipped", run.Skipped, "took", took}
	switch run.Result {
	case store.RunFailed:
		// A failed run counted nothing: counts of 0 would read as an
		// empty directory.
		r.log.Error("directory run failed; nothing changed", "source", run.Source, "trigger", run.Trigger, "took", took, "err", run.Error)
	case store.RunHeld:
		r.log.Warn("directory run held; confirm with: orgdav sync --confirm "+run.Source, append(attrs, "why", run.Note)...)
	default:
		r.log.Info("directory run", attrs...)
	}
}

// apply normalises a whole snapshot and applies it unless the run is held;
// an incremental source keeps what was applied for its next deltas.
func (r *Runner) apply(sp *Spec, sr *sourceRuns, snap directory.Snapshot, run *store.Run, confirm bool) error {
	sr.prior = nil
	run.Seen = len(snap.People)
	defer gc.hold(normalizeGC)()
	// snap is not used after this: its copies can go while the store writes.
	pub, err := directory.Normalize(snap)
	if err != nil {
		return err
	}
	run.Published = len(pub.People)
	r.countSkips(sp, pub.Skipped, run)
	if sp.Draft {
		run.Result = store.RunDraft
		run.Note = "draft source: previewed, not applied"
		return nil
	}
	current := r.st.SourcePeople(sp.Source.Name())
	removing := len(current)
	for i := range pub.People {
		if current[pub.People[i].Key] {
			removing--
		}
	}
	held := ""
	if len(pub.People) == 0 {
		held = "the source returned no people"
	} else if held, err = r.holdRemovals(sp, removing, len(current)); err != nil {
		return err
	}
	if held != "" && !confirm {
		run.Result, run.Note = store.RunHeld, held
		sr.heldAt = time.Now()
		r.held(sp, removing)
		return nil
	}
	res, err := r.st.Apply(pub)
	if err != nil {
		sr.stale = true
		return err
	}
	sr.stale, sr.heldAt = false, time.Time{}
	sr.imported.Store(true)
	if _, ok := sp.Source.(Incremental); ok {
		sr.prior = pub
	}
	r.counts(res, run)
	r.released(sp, confirm)
	if confirm {
		run.Note = "confirmed by an admin"
	}
	return nil
}

func (r *Runner) counts(res store.ApplyResult, run *store.Run) {
	run.Added, run.Updated, run.Removed = res.Added, res.Updated, res.Removed
	run.Result = store.RunUnchanged
	if res.Changed() {
		run.Result = store.RunApplied
	}
}

// countSkips counts a run's skips by reason and logs the first problems
// one by one, so an admin sees which entries to fix.
func (r *Runner) countSkips(sp *Spec, skipped []directory.Skip, run *store.Run) {
	run.Skipped = len(skipped)
	if len(skipped) == 0 {
		return
	}
	run.SkipReasons = map[string]int{}
	problems := 0
	for _, s := range skipped {
		run.SkipReasons[reasonClass(s.Reason)]++
		if s.Excluded {
			continue
		}
		if problems++; problems <= maxLoggedSkips {
			r.log.Warn("directory entry or value skipped", "source", sp.Source.Name(), "entry", s.ID, "reason", s.Reason)
		}
	}
	if problems > maxLoggedSkips {
		r.log.Warn("more entries or values skipped; see orgdav logs for counts by reason", "source", sp.Source.Name(), "more", problems-maxLoggedSkips)
	}
}

// maxLoggedSkips bounds the skips logged one by one per run.
const maxLoggedSkips = 20

// reasonClass groups skip reasons for the run log: the part before the
// first quoted value, so "invalid email \"x\" dropped" counts as one kind.
func reasonClass(reason string) string {
	for i, c := range reason {
		if c == '"' || c == '\'' {
			return strings.TrimRight(reason[:i], " :")
		}
	}
	return reason
}

// Start runs every source once, then fully on its interval and, for
// incremental sources, on their incremental interval, until ctx ends. It
// returns at once.
func (r *Runner) Start(ctx context.Context) {
	for _, n := range r.names {
		sp := r.specs[n]
		_, incremental := sp.Source.(Incremental)
		go func() {
			r.Run(ctx, n, TriggerStartup, false)
			if sp.Draft {
				return // previewed once; `orgdav check` previews on demand
			}
			full, inc := ticker(sp.Interval), ticker(0)
			pushed := make(chan struct{}, 1)
			if incremental && sp.Incremental > 0 {
				inc = ticker(sp.Incremental)
				if w, ok := sp.Source.(Watcher); ok {
					go r.watch(ctx, n, w, sp.Incremental, pushed)
				}
			}
			defer full.Stop()
			defer inc.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-full.C:
					r.Run(ctx, n, TriggerSchedule, false)
				case <-inc.C:
					r.poll(ctx, n)
				case <-pushed:
					// Changes come in bursts (a group edit, an import):
					// gather them briefly into one run.
					select {
					case <-ctx.Done():
						return
					case <-time.After(pushDebounce):
					}
					r.RunChanges(ctx, n, false)
				}
			}
		}()
	}
}

// poll is one incremental tick: the changes first, so edits are not kept
// waiting by the sweep's listing, then the sweep. A failed read skips the
// sweep, which would fail the same way: one failure per tick.
func (r *Runner) poll(ctx context.Context, name string) {
	if _, _, err := r.RunChanges(ctx, name, false); err == nil {
		r.RunChanges(ctx, name, true)
	}
}

// pushDebounce gathers pushed changes into one run.
const pushDebounce = 300 * time.Millisecond

// watch keeps a source's change stream open, so pushed changes run within
// a second; polling on the incremental interval covers the gaps, and the
// stream is tried again at that interval. It logs when the stream breaks
// and when it is back, not every failed retry.
func (r *Runner) watch(ctx context.Context, name string, w Watcher, retry time.Duration, pushed chan<- struct{}) {
	notify := func() {
		select {
		case pushed <- struct{}{}:
		default:
		}
	}
	var down time.Time // when the stream broke; zero while it is up
	retries := 0
	opened := func() {
		if down.IsZero() {
			r.log.Info("following the changes the server pushes", "source", name)
			return
		}
		r.log.Info("change stream resumed: changes are pushed again", "source", name, "down_for", time.Since(down).Round(time.Second))
		down, retries = time.Time{}, 0
	}
	for {
		err := w.Watch(ctx, opened, notify)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, directory.ErrNoPush) {
			r.log.Info("source does not push changes; incremental runs poll instead", "source", name)
			return
		}
		if down.IsZero() {
			down = time.Now()
			r.log.Warn("change stream ended; polling until it is back", "source", name, "err", err, "retry_every", retry)
		} else {
			retries++
			r.log.Debug("change stream still down", "source", name, "err", err, "retries", retries)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
	}
}

// ticker ticks every d, or never when d is zero.
func ticker(d time.Duration) *time.Ticker {
	if d <= 0 {
		t := time.NewTicker(time.Hour)
		t.Stop()
		return t
	}
	return time.NewTicker(d)
}

// A full run holds the source's state, its snapshot and its normalised
// publication at once; with the collector's default target (GOGC=100) the
// heap may grow to twice that. Full runs lower the target: to readGC while
// the source is read (most of the read is garbage, so a lower target costs
// many cycles), to normalizeGC from normalising to the store's commit,
// where the live heap peaks.
const (
	readGC      = 50
	normalizeGC = 25
)

// gc lowers the collector's target while full runs hold it, to the lowest
// any run asks for, and restores the process's own target (GOGC) after
// the last. It never raises a lower target or turns the collector on.
//
// A full run needs more heap than serving does, so it also lifts the
// serving memory limit (memory.heap_limit_bytes) while it runs: under it,
// the collector would run without pause. A limit the operator set with
// GOMEMLIMIT is never lifted.
var gc = gcTarget{fixedLimit: os.Getenv("GOMEMLIMIT") != ""}

type gcTarget struct {
	mu         sync.Mutex
	held       []int
	base       int
	limit      int64
	fixedLimit bool
}

// SetServingLimit sets the memory limit the process serves under: at
// once, or when the last full run in progress ends. A GOMEMLIMIT the
// operator set stays.
func SetServingLimit(limit int64) { gc.setLimit(limit) }

func (g *gcTarget) setLimit(limit int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.fixedLimit:
	case len(g.held) > 0:
		g.limit = limit
	default:
		debug.SetMemoryLimit(limit)
	}
}

// alone reports that at most one run holds the collector.
func (g *gcTarget) alone() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.held) <= 1
}

func (g *gcTarget) hold(percent int) (release func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.held) == 0 {
		g.base = debug.SetGCPercent(-1)
		debug.SetGCPercent(g.base)
		if !g.fixedLimit {
			g.limit = debug.SetMemoryLimit(math.MaxInt64)
		}
	}
	g.held = append(g.held, percent)
	g.apply()
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		i := slices.Index(g.held, percent)
		g.held = slices.Delete(g.held, i, i+1)
		g.apply()
	}
}

func (g *gcTarget) apply() {
	if len(g.held) == 0 && !g.fixedLimit {
		debug.SetMemoryLimit(g.limit)
	}
	switch {
	case g.base < 0: // GOGC=off stays off
	case len(g.held) == 0:
		debug.SetGCPercent(g.base)
	default:
		debug.SetGCPercent(min(g.base, slices.Min(g.held)))
	}
}
