package store

import "syscall"

// releasePages unmaps the database file's pages from this process. The
// read transaction keeps bbolt from remapping the file meanwhile.
func (s *Store) releasePages() error {
	tx, err := s.db.Begin(false)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	info := s.db.Info()
	size := uintptr(tx.Size()) &^ uintptr(info.PageSize-1)
	if size == 0 {
		return nil
	}
	// The mapping is bbolt's, not Go memory: passed as an address, never
	// turned into a Go pointer.
	if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, info.Data, size, syscall.MADV_DONTNEED); errno != 0 {
		return errno
	}
	return nil
}
