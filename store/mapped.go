package store

import (
	"errors"
	"sync/atomic"

	berrors "go.etcd.io/bbolt/errors"
)

// mapped keeps the database's pages in orgdav's resident memory within a
// budget. bbolt reads through a shared read-only mapping of the file, so
// every page a full download reads stays mapped, and counted as orgdav's
// memory, until the kernel needs it back: a 100,000-person book is over
// 100 MiB of them. Once a budget's worth has been read, the pages are
// unmapped (madvise MADV_DONTNEED). They stay in the kernel's page cache,
// so the next read of one costs a minor fault, not a disk read.
type mapped struct {
	budget  int64
	read    atomic.Int64 // record bytes read since the last release
	running atomic.Bool
	off     atomic.Bool // releasing failed: not supported here
	// released counts releases, for tests and metrics.
	released atomic.Int64
}

// noteRead counts bytes read through the mapping and starts a release
// when they add up to half the budget: records fill their pages about
// half full, so that is about the budget in pages.
func (s *Store) noteRead(n int) {
	m := &s.mapped
	if m.budget <= 0 || m.off.Load() || m.read.Add(int64(n)) < m.budget/2 {
		return
	}
	if !m.running.CompareAndSwap(false, true) {
		return
	}
	m.read.Store(0)
	go func() {
		defer m.running.Store(false)
		if err := s.releasePages(); err != nil {
			if !errors.Is(err, berrors.ErrDatabaseNotOpen) {
				m.off.Store(true)
			}
			return
		}
		m.released.Add(1)
	}()
}
