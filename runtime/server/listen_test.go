//go:build linux

package server

import (
	"errors"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// holdPort binds 127.0.0.1:port with a socket that does not listen (as a
// connection in TIME_WAIT holds it): net.Listen fails with EADDRINUSE and
// a dial is refused.
func holdPort(t *testing.T) (port int, release func()) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		syscall.Close(fd)
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		syscall.Close(fd)
		t.Fatal(err)
	}
	return sa.(*syscall.SockaddrInet4).Port, func() { syscall.Close(fd) }
}

// TestListenWaitsForAHeldAddress: an address bound by no listener is
// retried until it frees; one a server listens on fails at once; and the
// wait is bounded.
func TestListenWaitsForAHeldAddress(t *testing.T) {
	port, release := holdPort(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if _, err := net.Listen("tcp", addr); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("the held port: %v, want EADDRINUSE", err)
	}
	go func() {
		time.Sleep(500 * time.Millisecond)
		release()
	}()
	t0 := time.Now()
	ln, err := listen(addr, nil)
	if err != nil {
		t.Fatalf("listen on an address held by no listener: %v", err)
	}
	if time.Since(t0) < 400*time.Millisecond {
		t.Errorf("listen returned after %v, before the address was free", time.Since(t0))
	}

	// A server listens there: refused at once.
	t0 = time.Now()
	if _, err := listen(addr, nil); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("listen where a server listens: %v, want EADDRINUSE", err)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("refusal took %v", d)
	}
	ln.Close()

	// Held for longer than listenWait: the error, after the wait.
	port2, release2 := holdPort(t)
	defer release2()
	old := listenWait
	listenWait = 300 * time.Millisecond
	defer func() { listenWait = old }()
	if _, err := listen(net.JoinHostPort("127.0.0.1", strconv.Itoa(port2)), nil); !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("listen past the wait: %v, want EADDRINUSE", err)
	}
}
