// Command ctrtool is the one program of the runtime tests' root filesystem:
// each subcommand does one thing a test checks from outside.
package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: ctrtool CMD [ARG...]")
		os.Exit(2)
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "true":
	case "exit":
		n, _ := strconv.Atoi(args[0])
		os.Exit(n)
	case "echo":
		fmt.Println(strings.Join(args, " "))
	case "echoerr":
		fmt.Fprintln(os.Stderr, strings.Join(args, " "))
	case "cat":
		_, _ = io.Copy(os.Stdout, os.Stdin)
	case "spam": // spam N: N lines of 100 bytes
		n, _ := strconv.Atoi(args[0])
		line := strings.Repeat("x", 99) + "\n"
		for range n {
			_, _ = os.Stdout.WriteString(line)
		}
	case "info": // what the tests check from inside, one key=value a line
		host, _ := os.Hostname()
		wd, _ := os.Getwd()
		groups, _ := os.Getgroups()
		fmt.Printf("hostname=%s\nuid=%d\ngid=%d\ngroups=%v\ncwd=%s\nenv=%s\n", host, os.Getuid(), os.Getgid(), groups, wd, os.Getenv("FOO"))
		// From the syscalls: /proc/self is not readable by every user.
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			fmt.Println("capget error:", err)
		}
		fmt.Printf("CapEff=%08x%08x\n", data[1].Effective, data[0].Effective)
		nnp, _ := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
		fmt.Printf("NoNewPrivs=%d\n", nnp)
		var rl syscall.Rlimit
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
		fmt.Printf("nofile=%d\n", rl.Cur)
		fmt.Printf("pid=%d\n", os.Getpid())
	case "winsize": // the terminal's size on stdin, once it is not 0x0
		for range 100 {
			ws, err := unix.IoctlGetWinsize(0, unix.TIOCGWINSZ)
			if err != nil {
				fmt.Println("winsize error:", err)
				os.Exit(1)
			}
			if ws.Col != 0 {
				fmt.Printf("%dx%d\n", ws.Col, ws.Row)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		fmt.Println("no size")
	case "write": // write PATH: create a file, report the error
		if err := os.WriteFile(args[0], []byte("x"), 0o644); err != nil {
			fmt.Println("write error:", err)
			os.Exit(1)
		}
	case "read":
		b, err := os.ReadFile(args[0])
		if err != nil {
			fmt.Println("read error:", err)
			os.Exit(1)
		}
		os.Stdout.Write(b)
	case "alloc": // alloc MB: touch that much memory
		mb, _ := strconv.Atoi(args[0])
		var keep [][]byte
		for range mb {
			b := make([]byte, 1<<20)
			for i := range b {
				b[i] = 1
			}
			keep = append(keep, b)
		}
		fmt.Println("allocated", len(keep))
	case "sleep": // sleep [ignore-term]: until killed; exits 0 on SIGTERM
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM)
		fmt.Println("sleeping")
		for range sigs {
			if len(args) == 0 {
				fmt.Println("got SIGTERM")
				return
			}
		}
	case "wait": // wait SECONDS
		d, _ := time.ParseDuration(args[0])
		time.Sleep(d)
	default:
		fmt.Fprintln(os.Stderr, "unknown command", os.Args[1])
		os.Exit(2)
	}
}
