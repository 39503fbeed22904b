package sandbox

import (
	"io"
	"math/rand/v2"
	"strings"
	"sync"
)

// tailSize is how much of a guest's output is kept.
const tailSize = 4096

// tail keeps the last tailSize bytes written to it: a guest's stdout and
// stderr, for diagnostics (a Go guest prints its panics there).
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func newTail() *tail { return &tail{} }

// Write implements io.Writer; it never fails.
func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if n >= tailSize {
		t.buf = append(t.buf[:0], p[n-tailSize:]...)
		return n, nil
	}
	if over := len(t.buf) + n - tailSize; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	t.buf = append(t.buf, p...)
	return n, nil
}

// String returns what is kept, as text.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.ToValidUTF8(string(t.buf), "?")
}

// Reset forgets what was written.
func (t *tail) Reset() {
	t.mu.Lock()
	t.buf = t.buf[:0]
	t.mu.Unlock()
}

// suffix is the output as "; guest output: ..." for error messages, or "".
func (t *tail) suffix() string {
	s := strings.TrimSpace(t.String())
	if s == "" {
		return ""
	}
	if len(s) > 600 {
		s = "..." + s[len(s)-600:]
	}
	return "; guest output: " + s
}

// newDeterministicRand is the guests' WASI random source: a ChaCha8 stream
// from seed, the same for every instance made with the same seed.
func newDeterministicRand(seed [32]byte) io.Reader { return rand.NewChaCha8(seed) }
