// Package e2e tests the lifeboat binary from the outside, as its users run
// it: it builds cmd/lifeboat, starts real servers (Dovecot, Postfix, Xvfb,
// the Secret Service) on 127.0.0.1 and drives the command line and the
// desktop demo, with SIGKILL at every step that matters. It also holds the
// rules of the code's layers (layers_test.go), which read the whole module.
//
// The tests live apart from package main so that their test binary does not
// link the desktop app: compiling Fyne's GLFW driver once more with the
// race detector cost a cold build two and a half minutes.
package e2e
