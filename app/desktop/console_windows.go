//go:build windows

package desktop

import (
	"unsafe"

	"golang.org/x/sys/windows"
)

var (
	kernel32              = windows.NewLazySystemDLL("kernel32.dll")
	getConsoleProcessList = kernel32.NewProc("GetConsoleProcessList")
	freeConsole           = kernel32.NewProc("FreeConsole")
)

// releaseConsole closes the console window Windows opens for lifeboat.exe
// when it is started from Explorer or a shortcut. lifeboat.exe is a console
// program so that the command line prints in cmd.exe and PowerShell; the
// desktop app has no use for a console of its own. A console shared with a
// shell (more than this one process attached to it) is left alone.
func releaseConsole() {
	var pids [2]uint32
	n, _, _ := getConsoleProcessList.Call(uintptr(unsafe.Pointer(&pids[0])), uintptr(len(pids)))
	if n == 1 {
		freeConsole.Call()
	}
}
