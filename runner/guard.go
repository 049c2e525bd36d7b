package runner

import (
	"fmt"
	"time"
)

// The guard holds a source's removals that add up to more than
// MaxRemovalShare of its people within RemovalWindow, however they arrive:
// one full run, or pushed and polled incremental runs removing a little
// each. The store remembers what every apply removed, so the sum covers
// restarts too. Once a run is held, the removals before it keep counting
// until an admin confirms (orgdav sync --confirm) or the directory gets
// its people back: a hold does not expire because the window slides.

// holdRemovals says why a run that would remove `removing` of the
// source's `current` published people must wait for confirmation, or "".
func (r *Runner) holdRemovals(sp *Spec, removing, current int) (string, error) {
	if removing == 0 {
		return "", nil
	}
	name := sp.Source.Name()
	now := r.now()
	from := now.Add(-sp.RemovalWindow)
	held, err := r.st.HeldSince(name)
	if err != nil {
		return "", err
	}
	if !held.IsZero() && held.Add(-sp.RemovalWindow).Before(from) {
		from = held.Add(-sp.RemovalWindow)
	}
	earlier, err := r.st.RemovedSince(name, from)
	if err != nil {
		return "", err
	}
	// The people the source had before the earlier removals.
	base := current + earlier
	total := earlier + removing
	share := float64(total) / float64(base)
	if share <= sp.MaxRemovalShare {
		return "", nil
	}
	share *= 100
	if earlier == 0 {
		return fmt.Sprintf("would remove %d of %d people (%.0f%%, more than the %.0f%% allowed by max_removal_share)",
			removing, base, share, sp.MaxRemovalShare*100), nil
	}
	return fmt.Sprintf("would remove %d of %d people; with the %d removed since %s that is %d of %d (%.0f%%), more than the %.0f%% that max_removal_share allows within removal_window (%s)",
		removing, current, earlier, from.Local().Format(time.DateTime), total, base, share, sp.MaxRemovalShare*100, sp.RemovalWindow), nil
}

// held records that a run of the source is held.
func (r *Runner) held(sp *Spec, removing int) {
	name := sp.Source.Name()
	r.metrics.heldRemovals.WithLabelValues(name).Set(float64(removing))
	if t, err := r.st.HeldSince(name); err == nil && t.IsZero() {
		if err := r.st.SetHeld(name, r.now()); err != nil {
			r.log.Error("recording a held run failed", "source", name, "err", err)
		}
	}
}

// released records that the source's runs apply again: confirmed by an
// admin (the removals so far are accepted and forgotten), or no longer
// removing too many.
func (r *Runner) released(sp *Spec, confirmed bool) {
	name := sp.Source.Name()
	r.metrics.heldRemovals.WithLabelValues(name).Set(0)
	var err error
	if confirmed {
		err = r.st.ForgetRemovals(name)
	} else if t, herr := r.st.HeldSince(name); herr != nil || !t.IsZero() {
		err = r.st.SetHeld(name, time.Time{})
	}
	if err != nil {
		r.log.Error("clearing a held run failed", "source", name, "err", err)
	}
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}
