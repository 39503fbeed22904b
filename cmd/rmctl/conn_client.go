package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// connClient is an HTTP/1.1 client of one keep-alive connection that sends
// each request and reads its response on the caller's goroutine. Go's
// http.Transport hands every request to a writer goroutine and every
// response from a reader goroutine; on a small machine those two hand-overs
// are a good part of a loopback call's latency, and they belong to the
// client, not to the server a benchmark measures. bench api gives each of
// its clients one of these (--transport conn): each is one client with one
// connection, as separate scheduler processes would be. It serves one call
// at a time, plain HTTP only.
type connClient struct {
	addr string

	conn net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	body *connBody // the response whose body is being read, if any
}

// connDialTimeout bounds the dialling of a connection.
const connDialTimeout = 10 * time.Second

func newConnClient(addr string) *connClient { return &connClient{addr: addr} }

// Do sends req and returns its response, whose body must be read to its
// end or closed before the next call. A failure closes the connection; the
// next call opens another.
func (c *connClient) Do(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" {
		return nil, fmt.Errorf("connClient: %s: plain http only", req.URL)
	}
	if c.body != nil && !c.body.done {
		return nil, errors.New("connClient: the previous response's body was neither read to its end nor closed")
	}
	if c.conn == nil {
		d := net.Dialer{Timeout: connDialTimeout}
		conn, err := d.DialContext(req.Context(), "tcp", c.addr)
		if err != nil {
			return nil, err
		}
		c.conn, c.br, c.bw = conn, bufio.NewReader(conn), bufio.NewWriter(conn)
	}
	if dl, ok := req.Context().Deadline(); ok {
		_ = c.conn.SetDeadline(dl)
	} else {
		_ = c.conn.SetDeadline(time.Time{})
	}
	conn := c.conn // a cancellation interrupts the exchange on this connection
	stop := context.AfterFunc(req.Context(), func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := req.Write(c.bw); err != nil {
		return nil, c.broken(err)
	}
	if err := c.bw.Flush(); err != nil {
		return nil, c.broken(err)
	}
	resp, err := http.ReadResponse(c.br, req)
	if err != nil {
		return nil, c.broken(err)
	}
	body := &connBody{ReadCloser: resp.Body, c: c}
	c.body = body
	if resp.Close {
		// The server closes the connection after this response: the body
		// is the last use of it, and the next call dials another.
		body.c, body.onDone = nil, func() { _ = conn.Close() }
		c.conn, c.body = nil, nil
	}
	resp.Body = body
	return resp, nil
}

// broken closes the connection after a failed exchange.
func (c *connClient) broken(err error) error {
	if c.conn != nil {
		_ = c.conn.Close()
	}
	c.conn, c.body = nil, nil
	return err
}

// connBody marks the connection free once the response body is read to its
// end or closed (a close drains what is left, so that the connection stays
// usable).
type connBody struct {
	io.ReadCloser
	c      *connClient // nil once the connection is no longer the client's
	onDone func()
	done   bool
}

func (b *connBody) finish(err error) {
	if b.done {
		return
	}
	b.done = true
	if err != nil && b.c != nil {
		_ = b.c.broken(err)
	}
	if b.onDone != nil {
		b.onDone()
	}
}

func (b *connBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		b.finish(nil)
	case err != nil:
		b.finish(err)
	}
	return n, err
}

func (b *connBody) Close() error {
	if !b.done {
		_, err := io.Copy(io.Discard, b.ReadCloser)
		b.finish(err)
	}
	return b.ReadCloser.Close()
}
