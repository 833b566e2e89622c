package main

import "syscall"

const tmpfsMagic = 0x01021994

// isTmpfs reports whether dir lives on tmpfs (memory, not a disk).
func isTmpfs(dir string) bool {
	var st syscall.Statfs_t
	return syscall.Statfs(dir, &st) == nil && st.Type == tmpfsMagic
}
