//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package store

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// probeLock reports ErrLocked if another process (or another open Store)
// holds the flock that Badger takes on the directory. Badger's own error
// for this case does not wrap a testable cause, hence the probe. A failure to
// probe is not an error: badger.Open will report the problem.
func probeLock(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return nil
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("%w%s", ErrLocked, lockHolder(dir))
		}
		return nil
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return nil
}
