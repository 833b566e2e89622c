//go:build unix

package proc

import (
	"os/exec"
	"syscall"
	"testing"
	"time"
)

func TestGroupLifecycle(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 30 & sleep 30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	go cmd.Wait()
	if !Exists(pid) || !Alive(pid) || !GroupExists(pid) {
		t.Fatal("a running group is not seen")
	}
	if c := Comm(pid); c != "sh" {
		t.Fatalf("Comm = %q", c)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(ChildrenOf(pid)) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if len(ChildrenOf(pid)) == 0 {
		t.Fatal("the shell's children are not listed")
	}
	if err := SignalGroup(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !WaitGroupGone(pid, 5*time.Second) {
		t.Fatal("the group is still there after SIGKILL")
	}
	if Alive(pid) {
		t.Fatal("a killed process is alive")
	}
	if err := Signal(pid, syscall.SIGTERM); err != nil {
		t.Fatalf("signalling a gone process: %v", err)
	}
}
