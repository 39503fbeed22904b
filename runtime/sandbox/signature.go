package sandbox

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strings"
)

// Module signatures are ed25519 signatures of the module's binary, as is
// (the whole .wasm file), e.g. made with
//
//	openssl pkeyutl -sign -rawin -inkey key.pem -in strategy.wasm -out strategy.wasm.sig
//
// When trusted keys are configured every module must carry a signature by
// one of them, at push and again at every load from the store.

// ParsePublicKey reads an ed25519 public key: a PEM "PUBLIC KEY" block
// (PKIX, as openssl writes it), or the 32-byte key in base64 or hex.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSpace(s)
	if blk, _ := pem.Decode([]byte(s)); blk != nil {
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("public key: PEM block %q: %w", blk.Type, err)
		}
		ek, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("public key: a %T, not an ed25519 key", k)
		}
		return ek, nil
	}
	for _, dec := range []func(string) ([]byte, error){hex.DecodeString, base64.StdEncoding.DecodeString, base64.RawStdEncoding.DecodeString} {
		if b, err := dec(s); err == nil && len(b) == ed25519.PublicKeySize {
			return ed25519.PublicKey(b), nil
		}
	}
	return nil, fmt.Errorf("public key: not a PEM public key nor %d bytes in hex or base64", ed25519.PublicKeySize)
}

// ParseSignature reads a signature file: the 64 raw bytes, or them in hex
// or base64 (surrounding white space ignored).
func ParseSignature(b []byte) ([]byte, error) {
	if len(b) == ed25519.SignatureSize {
		return b, nil
	}
	s := string(bytes.TrimSpace(b))
	for _, dec := range []func(string) ([]byte, error){hex.DecodeString, base64.StdEncoding.DecodeString, base64.RawStdEncoding.DecodeString} {
		if d, err := dec(s); err == nil && len(d) == ed25519.SignatureSize {
			return d, nil
		}
	}
	return nil, fmt.Errorf("signature: %d bytes, neither %d raw bytes nor them in hex or base64", len(b), ed25519.SignatureSize)
}

// verifySignature checks sig over wasm against the trusted keys: nil when
// no key is configured, an error when the signature is missing or no key
// verifies it.
func verifySignature(keys []ed25519.PublicKey, wasm, sig []byte) error {
	if len(keys) == 0 {
		return nil
	}
	if len(sig) == 0 {
		return fmt.Errorf("unsigned, and %d trusted key(s) are configured", len(keys))
	}
	if len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("signature of %d bytes, want %d", len(sig), ed25519.SignatureSize)
	}
	for _, k := range keys {
		if ed25519.Verify(k, wasm, sig) {
			return nil
		}
	}
	return fmt.Errorf("the signature verifies with none of the %d trusted key(s)", len(keys))
}
