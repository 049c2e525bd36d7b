//go:build !linux

package store

import "errors"

func (s *Store) releasePages() error {
	return errors.New("store: releasing mapped pages needs Linux")
}
