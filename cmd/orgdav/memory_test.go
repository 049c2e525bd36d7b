package main

import (
	"runtime"
	"testing"
)

func TestHeapLimitIsTheConfiguredOneOrTwiceTheLiveHeap(t *testing.T) {
	keep := make([]byte, 8<<20) // a live heap of at least 8 MiB
	runtime.GC()
	for _, tc := range []struct {
		name              string
		configured, cache int64
		env               string
		check             func(int64) bool
	}{
		{"a limit above the live heap is kept", 1 << 40, 4 << 20, "", func(l int64) bool { return l == 1<<40 }},
		{"a limit under twice the live heap is raised", 1 << 20, 0, "", func(l int64) bool { return l >= 16<<20 }},
		{"a limit under twice a large render cache is raised", 32 << 20, 1 << 30, "", func(l int64) bool { return l >= 2<<30 }},
		{"no limit configured", 0, 4 << 20, "", func(l int64) bool { return l == 0 }},
		{"GOMEMLIMIT set by the operator wins", 1 << 40, 4 << 20, "200MiB", func(l int64) bool { return l == 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOMEMLIMIT", tc.env)
			if got := heapLimit(tc.configured, tc.cache); !tc.check(got) {
				t.Fatalf("heapLimit(%d, %d) = %d", tc.configured, tc.cache, got)
			}
		})
	}
	runtime.KeepAlive(keep)
}
