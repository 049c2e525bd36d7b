package main

import (
	"strings"
	"testing"
	"time"

	"github.com/orgdav/orgdav/store"
)

func TestRunLogShowsNoCountsForAFailedRun(t *testing.T) {
	start := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	var b strings.Builder
	printRuns(&b, []store.Run{
		{ID: 2, Source: "corp", Trigger: "incremental", Start: start, End: start.Add(time.Second), Result: store.RunFailed, Error: "ldap: connect: refused"},
		{ID: 1, Source: "corp", Trigger: "startup", Start: start, End: start.Add(time.Second), Result: store.RunApplied, Seen: 300, Published: 294, Added: 316},
	})
	lines := strings.Split(b.String(), "\n")
	if f := strings.Fields(lines[1]); len(f) < 13 || strings.Join(f[7:13], " ") != "- - - - - -" {
		t.Errorf("failed run: %q", lines[1])
	}
	if f := strings.Fields(lines[2]); len(f) < 13 || strings.Join(f[7:13], " ") != "300 294 316 0 0 0" {
		t.Errorf("applied run: %q", lines[2])
	}
}

func TestCheckSaysNoPhotoRatherThanZeroBytes(t *testing.T) {
	if got := photoSummary(0); got != "no photo" {
		t.Errorf("no photo: %q", got)
	}
	if got := photoSummary(12800); got != "photo 12.5 KB" {
		t.Errorf("a photo: %q", got)
	}
}
