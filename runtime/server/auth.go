package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"connectrpc.com/connect"

	"github.com/eigen-os/rm/runtime/config"
)

// Role of a caller.
type Role string

// Roles.
const (
	RoleTenant Role = "tenant"
	RoleAdmin  Role = "admin"
)

// Caller is who made a request.
type Caller struct {
	Tenant string
	Role   Role
}

// IsAdmin reports whether the caller has the admin role.
func (c Caller) IsAdmin() bool { return c.Role == RoleAdmin }

type callerKey struct{}

// CallerFrom returns the authenticated caller of a request's context.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// WithCaller returns ctx carrying c (for in-process callers and tests).
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// OpenCaller is the caller when no tokens are configured: one tenant,
// "default", with the admin role. rmd only allows this on loopback unless
// started with --insecure.
var OpenCaller = Caller{Tenant: "default", Role: RoleAdmin}

type tokenEntry struct {
	sum     [32]byte
	caller  Caller
	expires time.Time
}

// Auth checks bearer tokens. Tokens are compared by SHA-256 digest in
// constant time; an expired token is refused as Unauthenticated.
type Auth struct {
	tokens []tokenEntry
	now    func() time.Time
}

// NewAuth builds the checker from the configuration's tokens (validated).
func NewAuth(tokens []config.Token, now func() time.Time) (*Auth, error) {
	if now == nil {
		now = time.Now
	}
	a := &Auth{now: now}
	for i, t := range tokens {
		e := tokenEntry{sum: sha256.Sum256([]byte(t.Token)), caller: Caller{Tenant: t.Tenant, Role: RoleTenant}}
		if t.Role == string(RoleAdmin) {
			e.caller.Role = RoleAdmin
		}
		if t.Expires != "" {
			exp, err := time.Parse(time.RFC3339, t.Expires)
			if err != nil {
				return nil, fmt.Errorf("access.tokens[%d].expires: %v", i, err)
			}
			e.expires = exp
		}
		a.tokens = append(a.tokens, e)
	}
	return a, nil
}

// Open reports whether no tokens are configured.
func (a *Auth) Open() bool { return len(a.tokens) == 0 }

// Authenticate maps an Authorization header value to a caller.
func (a *Auth) Authenticate(header string) (Caller, error) {
	if a.Open() {
		return OpenCaller, nil
	}
	if header == "" {
		return Caller{}, connect.NewError(connect.CodeUnauthenticated, errors.New("missing bearer token (Authorization: Bearer TOKEN)"))
	}
	scheme, tok, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(tok) == "" {
		return Caller{}, connect.NewError(connect.CodeUnauthenticated, errors.New("malformed Authorization header: want \"Bearer TOKEN\""))
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	var found *tokenEntry
	for i := range a.tokens {
		if subtle.ConstantTimeCompare(sum[:], a.tokens[i].sum[:]) == 1 {
			found = &a.tokens[i]
		}
	}
	if found == nil {
		return Caller{}, connect.NewError(connect.CodeUnauthenticated, errors.New("unknown bearer token"))
	}
	if !found.expires.IsZero() && !a.now().Before(found.expires) {
		return Caller{}, connect.NewError(connect.CodeUnauthenticated,
			fmt.Errorf("bearer token of tenant %q expired at %s", found.caller.Tenant, found.expires.Format(time.RFC3339)))
	}
	return found.caller, nil
}

// Interceptor authenticates every unary and streaming call.
func (a *Auth) Interceptor() connect.Interceptor { return authInterceptor{a} }

type authInterceptor struct{ a *Auth }

func (i authInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		c, err := i.a.Authenticate(req.Header().Get("Authorization"))
		if err != nil {
			return nil, err
		}
		return next(WithCaller(ctx, c), req)
	}
}

func (i authInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i authInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		c, err := i.a.Authenticate(conn.RequestHeader().Get("Authorization"))
		if err != nil {
			return err
		}
		return next(WithCaller(ctx, c), conn)
	}
}
