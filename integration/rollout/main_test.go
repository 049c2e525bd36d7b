package main

import (
	"testing"
	"time"
)

func TestPercentilesAreNearestRank(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i))
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{.5, 50}, {.99, 99}, {1, 100}, {0, 1}} {
		if got := pct(d, tc.p); got != tc.want {
			t.Errorf("p%.0f of 1..100 = %d, want %d", tc.p*100, got, tc.want)
		}
	}
	if pct(nil, .99) != 0 {
		t.Error("a percentile of nothing is not 0")
	}
}
