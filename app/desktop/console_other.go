//go:build !windows

package desktop

// releaseConsole does nothing outside Windows: a terminal is the user's.
func releaseConsole() {}
