package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/orgdav/orgdav/directory"
	bolt "go.etcd.io/bbolt"
)

var bRuns = []byte("runs")

// MaxRuns bounds the run history kept.
const MaxRuns = 1000

// Run results.
const (
	RunApplied   = "applied"   // changes were applied
	RunUnchanged = "unchanged" // the directory matched the store
	RunHeld      = "held"      // not applied: waits for an admin's confirmation
	RunFailed    = "failed"    // the source could not be read; nothing changed
	RunDraft     = "draft"     // read for preview only
)

// Run is one source run's log entry.
type Run struct {
	ID          uint64         `json:"id"`
	Source      string         `json:"source"`
	Trigger     string         `json:"trigger"` // startup, schedule, manual, incremental
	Start       time.Time      `json:"start"`
	End         time.Time      `json:"end"`
	Result      string         `json:"result"`
	Seen        int            `json:"seen"` // people the source returned
	Published   int            `json:"published"`
	Added       int            `json:"added"`
	Updated     int            `json:"updated"`
	Removed     int            `json:"removed"`
	Skipped     int            `json:"skipped"`
	SkipReasons map[string]int `json:"skip_reasons,omitempty"`
	Error       string         `json:"error,omitempty"`
	Note        string         `json:"note,omitempty"`
}

// RecordRun stores a run and drops the oldest beyond MaxRuns.
func (s *Store) RecordRun(r *Run) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bRuns)
		if err != nil {
			return err
		}
		if r.ID, err = b.NextSequence(); err != nil {
			return err
		}
		data, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if err := b.Put(u64(r.ID), data); err != nil {
			return err
		}
		if r.ID > MaxRuns {
			c := b.Cursor()
			for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= r.ID-MaxRuns; k, _ = c.First() {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// Runs returns up to n runs, newest first, of one source or all ("").
func (s *Store) Runs(source string, n int) ([]Run, error) {
	var out []Run
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bRuns)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil && len(out) < n; k, v = c.Prev() {
			var r Run
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("store: run %d: %w", binary.BigEndian.Uint64(k), err)
			}
			if source == "" || r.Source == source {
				out = append(out, r)
			}
		}
		return nil
	})
	return out, err
}

// SourcePeople returns the entry keys of a source's published people.
func (s *Store) SourcePeople(source string) map[string]bool {
	out := map[string]bool{}
	for _, it := range s.Index().Items {
		if it.Kind == KindPerson && directory.SourceOf(it.Key) == source {
			out[it.Key] = true
		}
	}
	return out
}
