package server

import (
	"errors"
	"log/slog"
	"net"
	"syscall"
	"time"
)

// listenWait bounds how long listen waits for an address that no one
// listens on but that the system will not bind yet.
var listenWait = 65 * time.Second

// listen binds addr for a server. The reference's API port (50052) lies in
// Linux's range of ephemeral ports: a client that retries while rmd is down
// can be given that very port for its own end and connect to itself, and
// the closed connection then holds the address for a minute (TIME_WAIT),
// during which no new listener may bind it. So an address that is in use
// while nothing answers on it is retried until listenWait passes; one that
// another server listens on fails at once, as before.
func listen(addr string, log *slog.Logger) (net.Listener, error) {
	deadline := time.Now().Add(listenWait)
	warned := false
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil || !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			return ln, err
		}
		if c, derr := net.DialTimeout("tcp", addr, time.Second); derr == nil {
			c.Close()
			return nil, err // a server listens there
		}
		if !warned && log != nil {
			log.Warn("address in use but nothing listens on it (a closing connection holds it): waiting", "addr", addr,
				"up_to", listenWait)
			warned = true
		}
		time.Sleep(200 * time.Millisecond)
	}
}
