package server

import (
	"context"
	"errors"
	"fmt"

	"connectrpc.com/connect"

	rmv1 "github.com/eigen-os/rm/api/rm/v1"
	"github.com/eigen-os/rm/modules/abi"
	"github.com/eigen-os/rm/runtime/sandbox"
	"github.com/eigen-os/rm/store"
)

func moduleInfo(i sandbox.Info) *rmv1.ModuleInfo {
	out := &rmv1.ModuleInfo{Name: i.Name, Version: uint32(i.Version), Kind: i.Kind.String(), Sha256: i.SHA256, Size: i.Size,
		State: i.State, Signed: i.Signed, Active: i.Active, Shadow: i.Shadow, CreatedAt: ts(i.CreatedAt), Existing: i.Existing}
	if i.Stats != nil {
		out.Calls, out.Failures = i.Stats.Calls, i.Stats.Failures
	}
	return out
}

func (s *API) modulesFor(ctx context.Context, change bool) (*sandbox.Manager, error) {
	if s.mods == nil {
		return nil, connect.NewError(connect.CodeUnimplemented, errors.New("strategy modules are disabled on this controller (resource_manager.modules.enabled)"))
	}
	if change && !caller(ctx).Admin {
		return nil, connect.NewError(connect.CodePermissionDenied, errors.New("changing strategy modules needs the admin role"))
	}
	return s.mods, nil
}

func moduleError(err error) error {
	var re *sandbox.RejectError
	switch {
	case errors.As(err, &re), errors.Is(err, sandbox.ErrRejected), errors.Is(err, sandbox.ErrNoEarlierVersion):
		return connect.NewError(connect.CodeFailedPrecondition, err)
	case errors.Is(err, sandbox.ErrNoModule):
		return connect.NewError(connect.CodeNotFound, err)
	case errors.Is(err, store.ErrNotFound):
		return connect.NewError(connect.CodeNotFound, err)
	case errors.Is(err, store.ErrInvalid):
		return connect.NewError(connect.CodeInvalidArgument, err)
	}
	return connect.NewError(connect.CodeInternal, err)
}

// PushModule implements the RPC.
func (s *API) PushModule(ctx context.Context, req *connect.Request[rmv1.PushModuleRequest]) (*connect.Response[rmv1.ModuleInfo], error) {
	m, err := s.modulesFor(ctx, true)
	if err != nil {
		return nil, err
	}
	var kind abi.Kind
	if req.Msg.Kind != "" {
		if kind, err = abi.ParseKind(req.Msg.Kind); err != nil {
			return nil, invalid("kind: %v", err)
		}
	}
	if len(req.Msg.Wasm) == 0 {
		return nil, invalid("wasm: empty")
	}
	info, err := m.Push(ctx, sandbox.PushRequest{Name: req.Msg.Name, Version: int(req.Msg.Version), Kind: kind,
		Wasm: req.Msg.Wasm, Signature: req.Msg.Signature})
	if err != nil {
		return nil, moduleError(err)
	}
	if req.Msg.Activate {
		if info, err = m.Activate(ctx, info.Name, info.Version); err != nil {
			return nil, moduleError(fmt.Errorf("stored as %s@%d but not activated: %w", info.Name, info.Version, err))
		}
	}
	return connect.NewResponse(moduleInfo(info)), nil
}

// ListModules implements the RPC.
func (s *API) ListModules(ctx context.Context, req *connect.Request[rmv1.ListModulesRequest]) (*connect.Response[rmv1.ListModulesResponse], error) {
	m, err := s.modulesFor(ctx, false)
	if err != nil {
		return nil, err
	}
	list, _, err := m.List()
	if err != nil {
		return nil, moduleError(err)
	}
	out := &rmv1.ListModulesResponse{}
	for _, i := range list {
		out.Modules = append(out.Modules, moduleInfo(i))
	}
	return connect.NewResponse(out), nil
}

// ActivateModule implements the RPC.
func (s *API) ActivateModule(ctx context.Context, req *connect.Request[rmv1.ActivateModuleRequest]) (*connect.Response[rmv1.ModuleInfo], error) {
	m, err := s.modulesFor(ctx, true)
	if err != nil {
		return nil, err
	}
	info, err := m.Activate(ctx, req.Msg.Name, int(req.Msg.Version))
	if err != nil {
		return nil, moduleError(err)
	}
	return connect.NewResponse(moduleInfo(info)), nil
}

// RollbackModule implements the RPC.
func (s *API) RollbackModule(ctx context.Context, req *connect.Request[rmv1.RollbackModuleRequest]) (*connect.Response[rmv1.ModuleInfo], error) {
	m, err := s.modulesFor(ctx, true)
	if err != nil {
		return nil, err
	}
	info, err := m.Rollback(ctx, req.Msg.Name)
	if err != nil {
		return nil, moduleError(err)
	}
	return connect.NewResponse(moduleInfo(info)), nil
}
