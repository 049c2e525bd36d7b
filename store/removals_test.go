package store

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/orgdav/orgdav/directory"
)

func TestAppliesRememberHowManyPeopleTheyRemoved(t *testing.T) {
	now := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	s := open(t, filepath.Join(t.TempDir(), "db"), Options{Now: func() time.Time { return now }})
	everyone := []directory.Person{person("a", "A", "Sales"), person("b", "B", "Sales"), person("c", "C", "Ops"), person("d", "D", "Ops")}
	at := func(d time.Duration, people ...directory.Person) ApplyResult {
		now = now.Add(d)
		res, err := s.Apply(publish(t, people...))
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	removed := func(since time.Time) int {
		n, err := s.RemovedSince("src", since)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	start := now
	at(0, everyone...)
	// Two people and the Ops department group go: 3 cards, 2 people.
	if res := at(time.Hour, everyone[:2]...); res.Removed != 3 || removed(now.Add(-time.Minute)) != 2 {
		t.Fatalf("apply removing 2 people and a group: %+v, %d people remembered", res, removed(now.Add(-time.Minute)))
	}
	at(time.Hour, everyone[:1]...)
	if n := removed(start); n != 3 {
		t.Errorf("removed since the start: %d, want 3", n)
	}
	if n := removed(start.Add(90 * time.Minute)); n != 1 {
		t.Errorf("removed in the last half hour: %d, want 1", n)
	}
	if n, _ := s.RemovedSince("other", start); n != 0 {
		t.Errorf("another source: %d removed", n)
	}
	// Removals older than RemovalHistory are forgotten at the next one.
	at(0, everyone...)
	at(RemovalHistory+time.Hour, everyone[:3]...)
	if n := removed(start); n != 1 {
		t.Errorf("after RemovalHistory: %d remembered, want only the newest 1", n)
	}
	if err := s.SetHeld("src", now); err != nil {
		t.Fatal(err)
	}
	if held, _ := s.HeldSince("src"); !held.Equal(now) {
		t.Errorf("held since %v", held)
	}
	if err := s.ForgetRemovals("src"); err != nil {
		t.Fatal(err)
	}
	if held, _ := s.HeldSince("src"); removed(start) != 0 || !held.IsZero() {
		t.Errorf("after an admin's confirmation: %d removed, held since %v", removed(start), held)
	}
}
