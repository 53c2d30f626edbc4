package main

// The container image (internal/cmd/mkimage) has no CA certificate files:
// this bundle is what crypto/x509 falls back to when the system has none.
// Where the system has roots, they are used and this is not.
import _ "golang.org/x/crypto/x509roots/fallback"
