# The edge Resource Manager. `make run` starts a controller on the built-in
# synthetic device; `make test` runs the whole suite.
GO        ?= go
BIN       := bin
PKGS      := ./...
FUZZTIME  ?= 3s
LONGFUZZ  ?= 2m
RM_SHARED ?= $(abspath ../shared)
export RM_SHARED

.PHONY: all build run test test-short bench lint fuzz fuzz-short proto clean modules

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

# The built-in strategies as WebAssembly modules (same Go code as the native
# path) and the AssemblyScript example (npm).
modules:
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -o $(BIN)/modules/placement.wasm ./modules/builtin/placement
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -o $(BIN)/modules/scoring.wasm ./modules/builtin/scoring
	cd modules/examples/assemblyscript && npm ci --no-audit --no-fund && npx asc assembly/index.ts -O3 --runtime stub --use abort= -o ../../../$(BIN)/modules/greedy-as.wasm

run: build
	$(BIN)/rmd

test: build
	$(GO) vet $(PKGS)
	./scripts/test.sh
	$(MAKE) fuzz-short

test-short:
	$(GO) test -short -count=1 $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet $(PKGS)

# Every fuzz target for FUZZTIME each (make test runs them briefly; make fuzz longer).
fuzz-short:
	@./scripts/fuzz.sh $(FUZZTIME)

fuzz:
	@./scripts/fuzz.sh $(LONGFUZZ)

clean:
	rm -rf $(BIN)

# Regenerate the committed API stubs (needs protoc from Debian's protobuf-compiler):
#   go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
#   go install connectrpc.com/connect/cmd/protoc-gen-connect-go@v1.21.1
proto:
	protoc -I api --go_out=. --go_opt=module=github.com/eigen-os/rm \
	  --connect-go_out=. --connect-go_opt=module=github.com/eigen-os/rm api/rm/v1/rm.proto
