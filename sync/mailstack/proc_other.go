//go:build !unix

package mailstack

import "syscall"

// Available reports an error on these systems before any of this is used.
const supported = false

type procStat struct {
	pid, ppid, pgrp int
	state           string
}

func (p procStat) dead() bool { return true }

func procAttr() *syscall.SysProcAttr        { return nil }
func signalPID(int, syscall.Signal) error   { return nil }
func signalGroup(int, syscall.Signal) error { return nil }
func groupExists(int) bool                  { return false }
func childrenOf(int) []int                  { return nil }
func procAlive(int) bool                    { return false }
func procComm(int) string                   { return "" }
func readProcs() ([]procStat, bool)         { return nil, false }
