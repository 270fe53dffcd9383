package runc

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestPIDHandle(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep binary:", err)
	}
	reaped := make(chan struct{})
	go func() { _ = cmd.Wait(); close(reaped) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-reaped })

	start, err := procStartTime(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := openPID(cmd.Process.Pid, start+1); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("openPID with another start time: %v, want ErrProcessDone", err)
	}
	h, err := openPID(cmd.Process.Pid, start)
	if err != nil {
		t.Fatal(err)
	}
	defer h.close()

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := h.wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("wait on a live process: %v, want DeadlineExceeded", err)
	}
	if err := h.signal(unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.wait(ctx); err != nil {
		t.Errorf("wait after SIGKILL: %v", err)
	}
	<-reaped
	if err := h.signal(unix.SIGKILL); err != nil {
		t.Errorf("signal after exit: %v, want nil", err)
	}
}
