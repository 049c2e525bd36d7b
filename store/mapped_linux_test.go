package store

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orgdav/orgdav/directory"
)

// mappedRSS is how much of the file at path is resident in this
// process's mappings, from /proc/self/smaps.
func mappedRSS(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	defer f.Close()
	var total int64
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if fields := strings.Fields(line); len(fields) >= 5 && strings.Contains(fields[0], "-") {
			in = fields[len(fields)-1] == path
			continue
		}
		if v, ok := strings.CutPrefix(line, "Rss:"); ok && in {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			total += kb << 10
		}
	}
	return total
}

func readAllPeople(t *testing.T, s *Store) {
	t.Helper()
	rd := s.NewReader()
	defer rd.Close()
	for _, it := range s.Index().Items {
		if it.Kind == KindPerson {
			if err := rd.WithPerson(it.Name, func(*directory.Entry) {}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestReadPagesLeaveResidentMemoryOnceTheBudgetIsRead(t *testing.T) {
	pub, err := directory.Normalize(directory.Demo(3000))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		budget int64
		kept   bool // the pages read stay resident
	}{
		{"no budget", 0, true},
		{"a budget smaller than the book", 256 << 10, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "orgdav.db")
			s := open(t, path, Options{MappedBytes: tc.budget})
			defer s.Close()
			if _, err := s.Apply(pub); err != nil {
				t.Fatal(err)
			}
			if err := s.releasePages(); err != nil {
				t.Fatal(err)
			}
			before := mappedRSS(t, path)
			readAllPeople(t, s)
			// A release runs in the background: wait for it, boundedly.
			for i := 0; i < 200 && !tc.kept && s.mapped.running.Load(); i++ {
				time.Sleep(10 * time.Millisecond)
			}
			after := mappedRSS(t, path)
			t.Logf("database pages resident: %d KiB before the reads, %d KiB after; %d releases", before>>10, after>>10, s.mapped.released.Load())
			if tc.kept {
				if after < 1<<20 {
					t.Fatalf("only %d KiB resident after reading 3,000 people without a budget: the test cannot see the pages", after>>10)
				}
				return
			}
			if s.mapped.released.Load() == 0 {
				t.Fatal("reading past the budget released nothing")
			}
			if after > 4*tc.budget {
				t.Fatalf("%d KiB of the database resident after reads, budget %d KiB", after>>10, tc.budget>>10)
			}
			readAllPeople(t, s) // the released pages read back correctly
		})
	}
}
